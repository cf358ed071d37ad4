//! The report for the patient, in plain language.
