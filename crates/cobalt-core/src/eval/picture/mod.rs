//! The B12-deficiency picture versus the MS picture, feature by feature. Each feature is a rule
//! whose side and weight are knowledge-base data, and each rule is one function
//! ([`features`], [`red_flags`]); `PIC-021` weighs them ([`weigh`]).
//!
//! Strong features (weight 3) are the ones that carry a diagnosis on their own side: deficiency
//! shown by results or a symmetric dorsal-column cord signal for B12; MS-typical brain lesions or
//! CSF-specific oligoclonal bands for MS. Strong features on both sides give `mixed`: the two
//! conditions can coexist. Red flags (features atypical of MS) count against MS: their weight is
//! taken off the MS score, and while one is present the picture is MS only with a strong MS
//! feature.

mod features;
mod red_flags;
mod weigh;

use super::causes::Causes;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::Picture;
use crate::kb::PictureSide;

/// Rule ids of one side, kept without allocating (there are far fewer feature rules than
/// places).
#[derive(Default)]
pub(super) struct Names {
    ids: [&'static str; 32],
    len: usize,
}

impl Names {
    fn push(&mut self, id: &'static str) {
        if self.len < self.ids.len() {
            self.ids[self.len] = id;
            self.len += 1;
        }
    }

    pub(super) fn as_slice(&self) -> &[&'static str] {
        &self.ids[..self.len]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The features that fired, with their weights, by side.
#[derive(Default)]
pub(super) struct Tally {
    b12: u32,
    ms: u32,
    against_ms: u32,
    b12_strong: bool,
    ms_strong: bool,
    b12_features: Names,
    ms_features: Names,
    red_flags: Names,
}

/// Fires a feature rule and adds its weight to its side.
fn feature(ctx: &mut Ctx<'_, '_>, t: &mut Tally, rule: &'static str, message: String) {
    feature_with(ctx, t, rule, message, None);
}

fn feature_with(
    ctx: &mut Ctx<'_, '_>,
    t: &mut Tally,
    rule: &'static str,
    message: String,
    suggestion: Option<String>,
) {
    let Some(spec) = ctx.kb.rule(rule).and_then(|r| r.picture) else {
        return;
    };
    let w = u32::from(spec.weight);
    let side = match spec.side {
        PictureSide::B12Deficiency => {
            t.b12 += w;
            t.b12_strong |= w >= 3;
            t.b12_features.push(rule);
            "Favours B12 deficiency"
        }
        PictureSide::MultipleSclerosis => {
            t.ms += w;
            t.ms_strong |= w >= 3;
            t.ms_features.push(rule);
            "Favours MS"
        }
        PictureSide::AgainstMultipleSclerosis => {
            t.against_ms += w;
            t.red_flags.push(rule);
            "Counts against MS"
        }
    };
    let message = if message.is_empty() {
        message
    } else {
        let mut m = message;
        m.push(' ');
        m.push_str(side);
        m.push_str(match w {
            1 => " (weight 1).",
            2 => " (weight 2).",
            _ => " (weight 3).",
        });
        m
    };
    ctx.fire(rule, message, suggestion);
}

pub(crate) fn decide(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    causes: &Causes,
) -> Picture {
    let mut t = Tally::default();
    features::laterality(ctx, &mut t);
    features::legs_more_than_arms(ctx, &mut t);
    features::peripheral_nerves(ctx, &mut t);
    features::dorsal_columns(ctx, &mut t);
    features::age(ctx, &mut t, facts);
    features::blood(ctx, &mut t, lab);
    features::outside_nervous_system(ctx, &mut t);
    features::deficiency_shown(ctx, &mut t, lab);
    features::imaging(ctx, &mut t);
    features::oligoclonal_bands(ctx, &mut t);
    red_flags::typical_syndromes(ctx, &mut t);
    red_flags::atypical_syndromes(ctx, &mut t);
    red_flags::progressive_symmetric_myelopathy(ctx, &mut t);
    features::relapsing(ctx, &mut t);
    features::heat(ctx, &mut t);
    features::cause_present(ctx, &mut t, causes);
    weigh::weigh(ctx, &t, facts, lab)
}
