//! Example plugin: maps story points on one side to t-shirt sizes on the other.
//!
//! - `example.points-to-size` (outgoing, on a number field): sends the size whose
//!   bucket holds the points, e.g. 4 → `M`.
//! - `example.size-to-points` (incoming, on a number field): sets the points that
//!   stand for the received size, e.g. `M` → 5, but leaves the field alone when its
//!   current points already fall into that size (4 stays 4), so a round trip never
//!   loses precision.
//!
//! Both take the same options, a scale of sizes from small to large; the last size
//! has no upper bound and needs `points` to stand for it:
//!
//! ```json
//! { "scale": [
//!     { "size": "S", "up_to": 3 },
//!     { "size": "M", "up_to": 8 },
//!     { "size": "L", "points": 13 } ] }
//! ```
//!
//! Without options the scale is XS ≤ 1, S ≤ 3, M ≤ 5, L ≤ 8, XL (13).
//!
//! The crate also builds as an `rlib` so hosts can link it statically and benchmarks
//! can compare the two.

mod scale;

use fieldsync_plugin_api::{
    export_plugin, FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping,
    MappingDescriptor, MappingError, MappingOptions, OutgoingContext, OutgoingFieldMapping, Plugin,
};
use serde_json::Value;

pub use scale::Scale;

/// Plugin id.
pub const PLUGIN_ID: &str = "example.story-points";
/// Outgoing mapping id.
pub const POINTS_TO_SIZE: &str = "example.points-to-size";
/// Incoming mapping id.
pub const SIZE_TO_POINTS: &str = "example.size-to-points";

/// Story points → size name.
pub struct PointsToSize {
    scale: Scale,
}

impl OutgoingFieldMapping for PointsToSize {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        let points = match ctx.value() {
            Value::Null => return Ok(Value::Null),
            Value::Number(number) => number.as_f64().unwrap_or(f64::NAN),
            other => {
                return Err(MappingError::new(format!(
                    "field `{}` of {} holds {other}, expected story points (a number)",
                    ctx.field_id(),
                    ctx.issue().key
                )))
            }
        };
        let size = self.scale.size_for(points)?;
        log::debug!("{}: {points} points → {size}", ctx.issue().key);
        Ok(Value::from(size))
    }
}

/// Size name → story points.
pub struct SizeToPoints {
    scale: Scale,
}

impl IncomingFieldMapping for SizeToPoints {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let size = match ctx.data() {
            Value::Null => return Ok(FieldUpdate::Set(Value::Null)),
            Value::String(size) => size,
            other => {
                return Err(MappingError::new(format!(
                    "expected a size name, got {other}"
                )))
            }
        };
        let current = ctx.current_value()?.and_then(|value| value.as_f64());
        if let Some(points) = current {
            if self
                .scale
                .size_for(points)
                .ok()
                .is_some_and(|current| current.eq_ignore_ascii_case(size))
            {
                return Ok(FieldUpdate::Unchanged);
            }
        }
        Ok(FieldUpdate::Set(self.scale.points_for(size)?))
    }
}

fn scale_from(options: MappingOptions) -> Result<Scale, MappingError> {
    Scale::from_options(&options)
}

/// The plugin definition; also usable as a statically linked plugin.
pub fn plugin() -> Plugin {
    Plugin::new(PLUGIN_ID, "Story points and t-shirt sizes")
        .version(env!("CARGO_PKG_VERSION"))
        .vendor("fieldsync examples")
        .description("Keeps story points on one side and t-shirt sizes on the other in step")
        .outgoing(
            MappingDescriptor::new(POINTS_TO_SIZE, "Story points → t-shirt size")
                .description("Sends the size whose bucket holds the story points")
                .accepts([FieldType::Number]),
            |options| {
                Ok(PointsToSize {
                    scale: scale_from(options)?,
                })
            },
        )
        .incoming(
            MappingDescriptor::new(SIZE_TO_POINTS, "T-shirt size → story points")
                .description(
                    "Sets the points of the received size, keeping points already in that size",
                )
                .accepts([FieldType::Number]),
            |options| {
                Ok(SizeToPoints {
                    scale: scale_from(options)?,
                })
            },
        )
}

export_plugin!(plugin);

#[cfg(test)]
mod tests {
    // Through the real plugin boundary, as `fieldsync sync` calls the library.
    use super::*;
    use fieldsync_plugin_test::{this_plugin, TestIssue};
    use serde_json::json;

    fn export(options: Value, value: Value) -> Result<Value, MappingError> {
        let mapping = this_plugin!().outgoing(POINTS_TO_SIZE, options)?;
        mapping.export_new(&TestIssue::new("A-1").with("points", value), "points")
    }

    fn import(current: Option<Value>, data: Value) -> Result<FieldUpdate, MappingError> {
        let mapping = this_plugin!().incoming(SIZE_TO_POINTS, Value::Null)?;
        match current {
            Some(current) => mapping.import_into(
                &TestIssue::new("B-1").with("points", current),
                "points",
                &data,
            ),
            None => mapping.import_creating("points", &data),
        }
    }

    #[test]
    fn points_map_to_the_size_whose_bucket_holds_them() {
        assert_eq!(export(Value::Null, json!(1)).unwrap(), json!("XS"));
        assert_eq!(export(Value::Null, json!(4)).unwrap(), json!("M"));
        assert_eq!(export(Value::Null, json!(5)).unwrap(), json!("M"));
        assert_eq!(export(Value::Null, json!(40)).unwrap(), json!("XL"));
        assert_eq!(export(Value::Null, Value::Null).unwrap(), Value::Null);
        let custom =
            json!({"scale": [{"size": "small", "up_to": 10}, {"size": "big", "points": 20}]});
        assert_eq!(export(custom, json!(11)).unwrap(), json!("big"));
    }

    #[test]
    fn bad_values_are_errors_naming_the_issue_and_field() {
        let error = export(Value::Null, json!("lots")).unwrap_err();
        assert!(
            error.to_string().contains("field `points` of A-1"),
            "{error}"
        );
        assert!(export(Value::Null, json!(-1)).is_err());
    }

    #[test]
    fn sizes_map_back_to_points_without_losing_precision() {
        assert_eq!(
            import(None, json!("M")).unwrap(),
            FieldUpdate::Set(json!(5))
        );
        assert_eq!(
            import(Some(json!(4)), json!("m")).unwrap(),
            FieldUpdate::Unchanged
        );
        assert_eq!(
            import(Some(json!(1)), json!("L")).unwrap(),
            FieldUpdate::Set(json!(8))
        );
        assert_eq!(
            import(Some(json!(1)), json!("XL")).unwrap(),
            FieldUpdate::Set(json!(13))
        );
        assert_eq!(
            import(Some(json!(3)), Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
        let error = import(None, json!("XXL")).unwrap_err();
        assert!(error.to_string().contains("XXL"), "{error}");
    }

    #[test]
    fn bad_options_fail_at_construction() {
        let options = json!({"scale": [{"size": "S", "up_to": 5}, {"size": "M", "up_to": 3}, {"size": "L", "points": 9}]});
        let error = this_plugin!()
            .outgoing(POINTS_TO_SIZE, options)
            .unwrap_err();
        assert!(
            error.to_string().starts_with(
                "plugin `example.story-points` mapping `example.points-to-size`: invalid options"
            ),
            "{error}"
        );
    }
}
