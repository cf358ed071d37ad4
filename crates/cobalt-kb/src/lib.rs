//! cobalt's knowledge base as data.
//!
//! The files under `knowledge/` at the repository root are embedded here at compile time (the
//! list is [`FILES`]; a test checks it against the directory), so a `cobalt` binary carries the
//! knowledge it was tested with. [`load`] parses and validates them with
//! [`cobalt_core::KnowledgeBase::load`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use cobalt_core::{KnowledgeBase, Problem, SourceFile};

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        /// Every knowledge file, by its path under `knowledge/`.
        pub const FILES: &[SourceFile<'static>] = &[
            $( SourceFile { path: $path, text: include_str!(concat!("../../../knowledge/", $path)) }, )*
        ];
    };
}

files!(
    "kb.toml",
    "concepts.tsv",
    "references.toml",
    "codes/rxnorm.tsv",
    "codes/icd10cm.tsv",
    "codes/medicine-names.tsv",
    "analytes.toml",
    "findings.toml",
    "diet.toml",
    "profiles/nice-ng239.toml",
    "profiles/bsh-2014.toml",
    "rules/testing.toml",
    "rules/interpretation.toml",
    "rules/causes.toml",
    "rules/picture.toml",
    "rules/differential.toml",
    "rules/mcdonald.toml",
    "rules/mcdonald_2024.toml",
    "rules/management.toml",
    "rules/treatment_choice.toml",
    "rules/diet.toml",
    "rules/evidence.toml",
    "rules/screening.toml",
);

/// Loads and validates the embedded knowledge base. Every problem is returned at once.
pub fn load() -> Result<KnowledgeBase, Vec<Problem>> {
    KnowledgeBase::load(FILES, cobalt_core::BUILTINS)
}

/// Loads the knowledge base from other files' text (a deployment's own copy, or a test's).
pub fn load_from(files: &[SourceFile<'_>]) -> Result<KnowledgeBase, Vec<Problem>> {
    KnowledgeBase::load(files, cobalt_core::BUILTINS)
}

/// Loads the embedded knowledge base as far as it can be read, with every problem found.
pub fn load_with_problems() -> (KnowledgeBase, Vec<Problem>) {
    KnowledgeBase::load_with_problems(FILES, cobalt_core::BUILTINS)
}

pub mod check;
