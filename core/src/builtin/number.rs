//! `fieldsync.number`: the value as a number, for number and text fields.
//!
//! Both directions apply the same conversion (outgoing to the source value, incoming
//! to the received data, which it then sets):
//!
//! - numbers stay numbers;
//! - text is read as a number after trimming whitespace (`" 2.5 "` → `2.5`,
//!   `"1e3"` → `1000`); empty text means "no number" and becomes `null`;
//! - `null` stays `null`;
//! - anything else (text that is not a number, a boolean, a list, an object) is an
//!   error naming the value.
//!
//! Whole numbers are written as JSON integers (`5`, not `5.0`).
//!
//! Options:
//!
//! ```json
//! { "decimals": 2 }
//! ```
//!
//! - `decimals` (optional, no rounding when absent): round to this many decimal
//!   places, halves away from zero (`0.125` → `0.13` with 2; `2.5` → `3` with 0).
//!   At most 15, the precision of the numbers fieldsync computes with.

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::{Number as JsonNumber, Value};

use super::common::show;

/// Most decimals worth rounding to: an `f64` holds about 15 significant digits.
const MAX_DECIMALS: u32 = 15;

/// Integers up to this magnitude are exact in an `f64`, so a whole `f64` below it
/// converts to the same `i64`.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0; // 2^53

/// Turns the value into a number, optionally rounded.
#[derive(Debug, Clone)]
pub struct Number {
    decimals: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberOptions {
    #[serde(default)]
    decimals: Option<u32>,
}

impl Number {
    /// Builds the mapping from its options (see the module documentation).
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let NumberOptions { decimals } = options.parse()?;
        if let Some(decimals) = decimals.filter(|&d| d > MAX_DECIMALS) {
            return Err(MappingError::invalid_options(format!(
                "`decimals` is {decimals}, at most {MAX_DECIMALS} is supported"
            )));
        }
        Ok(Number { decimals })
    }

    /// The number for `value`, or `null` for `null` and empty text.
    fn convert(&self, value: &Value) -> Result<Value, MappingError> {
        let number = match value {
            Value::Null => return Ok(Value::Null),
            Value::Number(number) => number.clone(),
            Value::String(text) if text.trim().is_empty() => return Ok(Value::Null),
            Value::String(text) => parse(text.trim()).ok_or_else(|| {
                MappingError::new(format!("text {} is not a number", show(value)))
            })?,
            other => {
                return Err(MappingError::new(format!(
                    "expected a number, got {}",
                    show(other)
                )))
            }
        };
        Ok(Value::Number(self.shape(number)))
    }

    /// Rounds `number` if asked to and writes whole numbers as integers. Integers are
    /// returned untouched: they are already whole and may not fit an `f64` exactly.
    fn shape(&self, number: JsonNumber) -> JsonNumber {
        if number.is_i64() || number.is_u64() {
            return number;
        }
        let Some(mut float) = number.as_f64() else {
            return number;
        };
        if let Some(decimals) = self.decimals {
            float = round(float, decimals);
        }
        if float.fract() == 0.0 && float.abs() < EXACT_INTEGER {
            // Exact: a whole f64 below 2^53 is an integer an i64 holds.
            return JsonNumber::from(float as i64);
        }
        JsonNumber::from_f64(float).unwrap_or(number)
    }
}

/// Reads trimmed text as an integer if it is one, else as a finite float.
fn parse(text: &str) -> Option<JsonNumber> {
    if let Ok(integer) = text.parse::<i64>() {
        return Some(integer.into());
    }
    if let Ok(integer) = text.parse::<u64>() {
        return Some(integer.into());
    }
    // `from_f64` refuses what JSON cannot hold, i.e. the "inf" and "NaN" Rust parses.
    text.parse::<f64>().ok().and_then(JsonNumber::from_f64)
}

/// `value` rounded to `decimals` places, halves away from zero. When scaling would
/// leave the exactly representable range the value has no digits that far right
/// anyway, and is returned as is.
fn round(value: f64, decimals: u32) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    let scaled = value * factor;
    if !scaled.is_finite() || scaled.abs() >= EXACT_INTEGER {
        return value;
    }
    scaled.round() / factor
}

impl OutgoingFieldMapping for Number {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        self.convert(ctx.value())
    }
}

impl IncomingFieldMapping for Number {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        self.convert(ctx.data()).map(FieldUpdate::Set)
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::NUMBER, "Number")
        .description("Sends and sets the value as a number, reading text and optionally rounding")
        .accepts([FieldType::Number, FieldType::Text])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, import, refused};
    use super::super::NUMBER;
    use super::*;
    use serde_json::json;

    fn out(options: Value, value: Value) -> Result<Value, MappingError> {
        export(NUMBER, FieldType::Number, &options, value)
    }

    #[test]
    fn numbers_and_numeric_text_become_numbers() {
        assert_eq!(out(Value::Null, json!(5)).unwrap(), json!(5));
        assert_eq!(out(Value::Null, json!(2.5)).unwrap(), json!(2.5));
        assert_eq!(out(Value::Null, json!(u64::MAX)).unwrap(), json!(u64::MAX));
        assert_eq!(out(Value::Null, json!(" 42 ")).unwrap(), json!(42));
        assert_eq!(out(Value::Null, json!("-0.25")).unwrap(), json!(-0.25));
        assert_eq!(out(Value::Null, json!("1e3")).unwrap(), json!(1000));
        assert_eq!(out(Value::Null, Value::Null).unwrap(), Value::Null);
        assert_eq!(out(Value::Null, json!("  ")).unwrap(), Value::Null);
    }

    #[test]
    fn whole_numbers_are_written_as_integers() {
        let five = out(Value::Null, json!(5.0)).unwrap();
        assert_eq!(five.to_string(), "5");
        assert_eq!(out(Value::Null, json!("5.0")).unwrap().to_string(), "5");
        assert_eq!(
            out(json!({"decimals": 0}), json!(4.6)).unwrap().to_string(),
            "5"
        );
    }

    #[test]
    fn decimals_round_halves_away_from_zero() {
        let two = json!({"decimals": 2});
        assert_eq!(out(two.clone(), json!(1.23456)).unwrap(), json!(1.23));
        assert_eq!(out(two.clone(), json!("0.125")).unwrap(), json!(0.13));
        assert_eq!(out(two.clone(), json!(-0.125)).unwrap(), json!(-0.13));
        assert_eq!(out(two.clone(), json!(7)).unwrap(), json!(7));
        assert_eq!(out(json!({"decimals": 0}), json!(2.5)).unwrap(), json!(3));
        assert_eq!(
            out(json!({"decimals": 15}), json!(1e300)).unwrap(),
            json!(1e300)
        );
    }

    #[test]
    fn non_numbers_are_errors_naming_the_value() {
        let error = out(Value::Null, json!("lots")).unwrap_err();
        assert_eq!(error.message(), "text `lots` is not a number");
        let error = out(Value::Null, json!("inf")).unwrap_err();
        assert_eq!(error.message(), "text `inf` is not a number");
        let error = out(Value::Null, json!(true)).unwrap_err();
        assert_eq!(error.message(), "expected a number, got `true`");
        let error = out(Value::Null, json!([1])).unwrap_err();
        assert_eq!(error.message(), "expected a number, got `[1]`");
    }

    #[test]
    fn incoming_sets_the_converted_data() {
        let options = json!({"decimals": 1});
        assert_eq!(
            import(NUMBER, FieldType::Number, &options, None, json!("2.26")).unwrap(),
            FieldUpdate::Set(json!(2.3))
        );
        assert_eq!(
            import(NUMBER, FieldType::Text, &options, None, Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
        let error = import(NUMBER, FieldType::Number, &options, None, json!("x")).unwrap_err();
        assert!(
            error.to_string().ends_with("text `x` is not a number"),
            "{error}"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let message = refused(NUMBER, FieldType::Number, &json!({"decimals": 16}));
        assert_eq!(message, "`decimals` is 16, at most 15 is supported");
        let message = refused(NUMBER, FieldType::Number, &json!({"digits": 2}));
        assert!(message.contains("unknown field `digits`"), "{message}");
        refused(NUMBER, FieldType::Number, &json!({"decimals": -1}));
    }
}
