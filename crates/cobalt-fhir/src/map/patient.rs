//! Patient: age at `as_of`, administrative gender, US Core race and ethnicity.

use super::{at, Mapper};
use crate::dates;
use crate::gather::Item;
use crate::model;
use cobalt_core::case::Sex;
use cobalt_core::InputError;

impl Mapper<'_, '_> {
    pub(super) fn patient_resource(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let p = i.read::<model::Patient>()?;
        if let Some(b) = &p.birthDate {
            let bpath = at(i, "birthDate");
            let birth = dates::parse(&bpath, b)?;
            let age = dates::age_years(birth, self.as_of);
            if birth > self.as_of {
                return Err(InputError::new(
                    bpath,
                    format!(
                        "`{b}` is impossible: it is after the assessment date {}; expected a birth date on or before it",
                        dates::format(self.as_of)
                    ),
                ));
            }
            if age > 130 {
                return Err(InputError::new(
                    bpath,
                    format!(
                        "`{b}` is impossible: it gives an age of {age} years on {}; expected at most 130",
                        dates::format(self.as_of)
                    ),
                ));
            }
            self.patient().age_years = Some(age as f64);
            self.origin("patient.age_years".into(), bpath);
        }
        if let Some(g) = &p.gender {
            let gpath = at(i, "gender");
            let sex = match g.as_ref() {
                "male" => Sex::Male,
                "female" => Sex::Female,
                "other" => Sex::Other,
                "unknown" => Sex::Unknown,
                _ => {
                    return Err(InputError::new(
                        gpath,
                        format!("`{g}` is not a FHIR administrative gender; expected male, female, other or unknown"),
                    ))
                }
            };
            self.patient().sex = Some(sex);
            self.origin("patient.sex".into(), gpath);
        }
        let mut parts = Vec::new();
        for url in &self.t.ethnicity_extensions {
            let name = url.rsplit('/').next().unwrap_or(url);
            for (n, e) in p.extension.iter().enumerate() {
                if e.url.as_deref() != Some(url.as_str()) {
                    continue;
                }
                let text = e
                    .extension
                    .iter()
                    .find(|x| x.url.as_deref() == Some("text"))
                    .and_then(|x| x.valueString.as_deref())
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string);
                let omb: Vec<&str> = e
                    .extension
                    .iter()
                    .filter(|x| x.url.as_deref() == Some("ombCategory"))
                    .filter_map(|x| x.valueCoding.as_ref()?.display.as_deref())
                    .collect();
                let value = text.or_else(|| (!omb.is_empty()).then(|| omb.join(", ")));
                let epath = at(i, &format!("extension[{n}]"));
                if let Some(v) = value {
                    parts.push(v);
                    self.origin("patient.ethnicity".into(), epath);
                } else {
                    self.skip(
                        &epath,
                        format!("{name} extension without text or an ombCategory display"),
                    );
                }
            }
        }
        if !parts.is_empty() {
            self.patient().ethnicity = Some(parts.join("; "));
        }
        Ok(())
    }
}
