//! A deployment's laboratory file over a profile.

use super::*;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OverrideFile {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) tests: BTreeMap<String, CutoffsPatch>,
    #[serde(default)]
    pub(super) csf: Option<CsfPatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CsfPatch {
    #[serde(default)]
    pub(super) kappa_flc_index_positive_from: Option<f64>,
    #[serde(default)]
    pub(super) sources: Option<Vec<Cite>>,
}

pub(super) fn merge_csf(c: &mut Option<CsfCutoffs>, p: CsfPatch) {
    let entry = c.get_or_insert_with(CsfCutoffs::default);
    if let Some(v) = p.kappa_flc_index_positive_from {
        entry.kappa_flc_index_positive_from = v;
    }
    if let Some(s) = p.sources {
        entry.sources = s;
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CutoffsPatch {
    #[serde(default)]
    pub(super) unit: Option<String>,
    #[serde(default)]
    pub(super) deficient_below: Option<f64>,
    #[serde(default)]
    pub(super) indeterminate_up_to: Option<f64>,
    #[serde(default)]
    pub(super) raised_above: Option<f64>,
    #[serde(default)]
    pub(super) low_below: Option<f64>,
    #[serde(default)]
    pub(super) high_above: Option<f64>,
    #[serde(default)]
    pub(super) anaemia_below_male: Option<f64>,
    #[serde(default)]
    pub(super) anaemia_below_female: Option<f64>,
    #[serde(default)]
    pub(super) anaemia_below_pregnant: Option<f64>,
    #[serde(default)]
    pub(super) sources: Option<Vec<Cite>>,
}

pub(super) fn merge_cutoffs(c: &mut Cutoffs, p: CutoffsPatch) {
    if let Some(u) = p.unit {
        // A new unit invalidates the bounds given in the old one.
        if u != c.unit {
            *c = Cutoffs {
                unit: u,
                ..Cutoffs::default()
            };
        }
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if p.$f.is_some() { c.$f = p.$f; } )* };
    }
    set!(
        deficient_below,
        indeterminate_up_to,
        raised_above,
        low_below,
        high_above,
        anaemia_below_male,
        anaemia_below_female,
        anaemia_below_pregnant
    );
    if let Some(s) = p.sources {
        c.sources = s;
    }
}
