//! The compact rows as an Apache Parquet file: one column per [`Row`] field, with its type
//! (text, boolean, nullable boolean, double, date, list of text, unsigned integer), Snappy
//! compressed, in row groups of up to 64 Ki patients.

use crate::row::Row;
use anyhow::Result;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, ListBuilder, StringBuilder, UInt32Builder,
    UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

const BATCH: usize = 64 * 1024;

/// The Arrow schema of the compact rows: the README documents the same columns.
pub fn schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let opt_text = |n: &str| Field::new(n, DataType::Utf8, true);
    let list = |n: &str| {
        Field::new(
            n,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        )
    };
    let flag = |n: &str| Field::new(n, DataType::Boolean, false);
    let opt_flag = |n: &str| Field::new(n, DataType::Boolean, true);
    Arc::new(Schema::new(vec![
        text("id"),
        Field::new("as_of", DataType::Date32, false),
        text("knowledge_version"),
        text("profile"),
        text("b12_status"),
        text("picture"),
        flag("test_indicated"),
        list("next_tests"),
        list("causes"),
        text("route"),
        flag("urgent"),
        list("referrals"),
        opt_flag("mcdonald_2017_dis"),
        opt_flag("mcdonald_2017_dit"),
        opt_flag("mcdonald_2017_met"),
        list("flags"),
        list("rules"),
        opt_text("b12_test"),
        Field::new("b12_value", DataType::Float64, true),
        opt_text("b12_comparator"),
        opt_text("b12_unit"),
        Field::new("b12_date", DataType::Date32, true),
        Field::new("refused_lines", DataType::UInt32, false),
        Field::new("mcdonald_2024_regions", DataType::UInt8, true),
        opt_flag("mcdonald_2024_dis"),
        opt_flag("mcdonald_2024_dit"),
        opt_flag("mcdonald_2024_csf_positive"),
        opt_flag("mcdonald_2024_cvs_select6"),
        opt_flag("mcdonald_2024_met"),
        Field::new("skipped_resources", DataType::UInt32, false),
    ]))
}

/// Days since 1970-01-01 (Arrow's Date32).
fn days(date: &str) -> Option<i32> {
    cobalt_core::case::parse_date(date).map(|d| d.to_julian_day() - 2_440_588)
}

#[derive(Default)]
struct Columns {
    id: StringBuilder,
    as_of: Date32Builder,
    knowledge_version: StringBuilder,
    profile: StringBuilder,
    b12_status: StringBuilder,
    picture: StringBuilder,
    test_indicated: BooleanBuilder,
    next_tests: ListBuilder<StringBuilder>,
    causes: ListBuilder<StringBuilder>,
    route: StringBuilder,
    urgent: BooleanBuilder,
    referrals: ListBuilder<StringBuilder>,
    dis: BooleanBuilder,
    dit: BooleanBuilder,
    met: BooleanBuilder,
    flags: ListBuilder<StringBuilder>,
    rules: ListBuilder<StringBuilder>,
    b12_test: StringBuilder,
    b12_value: Float64Builder,
    b12_comparator: StringBuilder,
    b12_unit: StringBuilder,
    b12_date: Date32Builder,
    refused_lines: UInt32Builder,
    regions_2024: UInt8Builder,
    dis_2024: BooleanBuilder,
    dit_2024: BooleanBuilder,
    csf_2024: BooleanBuilder,
    cvs_2024: BooleanBuilder,
    met_2024: BooleanBuilder,
    skipped_resources: UInt32Builder,
}

fn list(b: &mut ListBuilder<StringBuilder>, v: &[String]) {
    for s in v {
        b.values().append_value(s);
    }
    b.append(true);
}

impl Columns {
    fn push(&mut self, r: &Row) -> Result<()> {
        self.id.append_value(&r.id);
        let as_of =
            days(&r.as_of).ok_or_else(|| anyhow::anyhow!("as_of `{}` is not a date", r.as_of))?;
        self.as_of.append_value(as_of);
        self.knowledge_version.append_value(&r.knowledge_version);
        self.profile.append_value(&r.profile);
        self.b12_status.append_value(&r.b12_status);
        self.picture.append_value(&r.picture);
        self.test_indicated.append_value(r.test_indicated);
        list(&mut self.next_tests, &r.next_tests);
        list(&mut self.causes, &r.causes);
        self.route.append_value(&r.route);
        self.urgent.append_value(r.urgent);
        list(&mut self.referrals, &r.referrals);
        self.dis.append_option(r.mcdonald_2017_dis);
        self.dit.append_option(r.mcdonald_2017_dit);
        self.met.append_option(r.mcdonald_2017_met);
        list(&mut self.flags, &r.flags);
        list(&mut self.rules, &r.rules);
        self.b12_test.append_option(r.b12_test.as_deref());
        self.b12_value.append_option(r.b12_value);
        self.b12_comparator
            .append_option(r.b12_comparator.as_deref());
        self.b12_unit.append_option(r.b12_unit.as_deref());
        self.b12_date
            .append_option(r.b12_date.as_deref().and_then(days));
        self.refused_lines.append_value(r.refused_lines);
        self.regions_2024.append_option(r.mcdonald_2024_regions);
        self.dis_2024.append_option(r.mcdonald_2024_dis);
        self.dit_2024.append_option(r.mcdonald_2024_dit);
        self.csf_2024.append_option(r.mcdonald_2024_csf_positive);
        self.cvs_2024.append_option(r.mcdonald_2024_cvs_select6);
        self.met_2024.append_option(r.mcdonald_2024_met);
        self.skipped_resources.append_value(r.skipped_resources);
        Ok(())
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.id.finish()),
            Arc::new(self.as_of.finish()),
            Arc::new(self.knowledge_version.finish()),
            Arc::new(self.profile.finish()),
            Arc::new(self.b12_status.finish()),
            Arc::new(self.picture.finish()),
            Arc::new(self.test_indicated.finish()),
            Arc::new(self.next_tests.finish()),
            Arc::new(self.causes.finish()),
            Arc::new(self.route.finish()),
            Arc::new(self.urgent.finish()),
            Arc::new(self.referrals.finish()),
            Arc::new(self.dis.finish()),
            Arc::new(self.dit.finish()),
            Arc::new(self.met.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.rules.finish()),
            Arc::new(self.b12_test.finish()),
            Arc::new(self.b12_value.finish()),
            Arc::new(self.b12_comparator.finish()),
            Arc::new(self.b12_unit.finish()),
            Arc::new(self.b12_date.finish()),
            Arc::new(self.refused_lines.finish()),
            Arc::new(self.regions_2024.finish()),
            Arc::new(self.dis_2024.finish()),
            Arc::new(self.dit_2024.finish()),
            Arc::new(self.csf_2024.finish()),
            Arc::new(self.cvs_2024.finish()),
            Arc::new(self.met_2024.finish()),
            Arc::new(self.skipped_resources.finish()),
        ]
    }
}

/// Writes rows to a Parquet file in batches.
pub(crate) struct Writer<W: std::io::Write + Send> {
    schema: SchemaRef,
    inner: ArrowWriter<W>,
    columns: Columns,
    pending: usize,
}

impl<W: std::io::Write + Send> Writer<W> {
    pub(crate) fn new(out: W) -> Result<Writer<W>> {
        let schema = schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(BATCH))
            .build();
        let inner = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))?;
        Ok(Writer {
            schema,
            inner,
            columns: Columns::default(),
            pending: 0,
        })
    }

    pub(crate) fn push(&mut self, row: Row) -> Result<()> {
        self.columns.push(&row)?;
        self.pending += 1;
        if self.pending == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), self.columns.finish())?;
        self.inner.write(&batch)?;
        self.pending = 0;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.inner.close()?;
        Ok(())
    }
}
