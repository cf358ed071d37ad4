//! cobalt's pure core.
//!
//! cobalt assesses one patient for vitamin B12 deficiency, the mimic that must be excluded
//! before multiple sclerosis can be diagnosed. This crate holds the domain types (with units as
//! types), the knowledge-base model and its linter, the `cobalt.case/1` parser and the
//! evaluator. It does no I/O and reads no clock: the knowledge base comes in as text, the case as
//! text or a JSON value, and the assessment date as a value.
//!
//! ```
//! # fn demo(kb: &cobalt_core::KnowledgeBase) {
//! let profile = kb.profiles.get("nice-ng239").unwrap();
//! let case = cobalt_core::parse_case(
//!     r#"{"format":"cobalt.case/1","labs":[{"test":"total_b12","value":150,"unit":"ng/L"}]}"#,
//!     &kb.vocab,
//!     &kb.analytes,
//! ).unwrap();
//! let as_of = cobalt_core::case::parse_date("2026-01-01").unwrap();
//! let assessment = cobalt_core::evaluate(kb, profile, &case, as_of);
//! assert_eq!(assessment.conclusions.b12_status.as_str(), "deficient");
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assessment;
pub mod case;
pub mod eval;
pub mod kb;
pub mod thresholds;
pub mod units;
pub mod vocab;

pub use assessment::Assessment;
pub use case::{parse_case, parse_case_value, Case, InputError};
pub use eval::{evaluate, evaluate_with, Detail, BUILTINS};
pub use kb::{Analytes, KnowledgeBase, Problem, Profile, SourceFile};
