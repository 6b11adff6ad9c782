//! The size scale both mappings share, read from the relationship options.

use serde::Deserialize;
use serde_json::Value;

use fieldsync_plugin_api::{MappingError, MappingOptions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleOptions {
    #[serde(default)]
    scale: Option<Vec<SizeOption>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeOption {
    size: String,
    #[serde(default)]
    up_to: Option<f64>,
    #[serde(default)]
    points: Option<f64>,
}

/// One size: its name, the largest points it covers (none for the last), and the
/// points that stand for it when a size is turned back into points.
#[derive(Debug, Clone, PartialEq)]
struct Size {
    name: String,
    up_to: Option<f64>,
    points: f64,
}

/// Sizes from small to large.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    sizes: Vec<Size>,
}

impl Default for Scale {
    fn default() -> Self {
        let bounded = [("XS", 1.0), ("S", 3.0), ("M", 5.0), ("L", 8.0)];
        let mut sizes: Vec<Size> = bounded
            .iter()
            .map(|(name, up_to)| Size {
                name: (*name).to_owned(),
                up_to: Some(*up_to),
                points: *up_to,
            })
            .collect();
        sizes.push(Size {
            name: "XL".to_owned(),
            up_to: None,
            points: 13.0,
        });
        Scale { sizes }
    }
}

impl Scale {
    /// Reads and checks the `scale` option; the default scale when absent.
    pub fn from_options(options: &MappingOptions) -> Result<Scale, MappingError> {
        let options: ScaleOptions = options.parse()?;
        let Some(entries) = options.scale else {
            return Ok(Scale::default());
        };
        if entries.is_empty() {
            return Err(MappingError::invalid_options("`scale` lists no size"));
        }
        let last = entries.len() - 1;
        let mut sizes: Vec<Size> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let at = format!("scale[{index}]");
            if entry.size.trim().is_empty() {
                return Err(MappingError::invalid_options(format!("{at}.size is empty")));
            }
            if sizes
                .iter()
                .any(|size| size.name.eq_ignore_ascii_case(&entry.size))
            {
                return Err(MappingError::invalid_options(format!(
                    "{at}: size `{}` appears twice",
                    entry.size
                )));
            }
            match (index == last, entry.up_to) {
                (true, Some(_)) => {
                    return Err(MappingError::invalid_options(format!(
                        "{at}: the last size covers everything above, so it takes `points`, not `up_to`"
                    )))
                }
                (false, None) => {
                    return Err(MappingError::invalid_options(format!("{at}: `up_to` is required")))
                }
                _ => {}
            }
            if let (Some(up_to), Some(previous)) = (entry.up_to, sizes.last().and_then(|s| s.up_to))
            {
                if up_to <= previous {
                    return Err(MappingError::invalid_options(format!(
                        "{at}.up_to ({up_to}) must be larger than the previous one ({previous})"
                    )));
                }
            }
            if let Some(negative) = [entry.up_to, entry.points]
                .into_iter()
                .flatten()
                .find(|v| *v < 0.0)
            {
                return Err(MappingError::invalid_options(format!(
                    "{at}: story points cannot be negative ({negative})"
                )));
            }
            let points = match (entry.points, entry.up_to) {
                (Some(points), _) | (None, Some(points)) => points,
                (None, None) => {
                    return Err(MappingError::invalid_options(format!(
                        "{at}: the last size needs `points` to stand for it"
                    )))
                }
            };
            // Points outside their own size would map back to another size, and the
            // two sides would flip the value back and forth for ever.
            let above = sizes
                .last()
                .and_then(|s| s.up_to)
                .unwrap_or(f64::NEG_INFINITY);
            let within = points > above && entry.up_to.is_none_or(|up_to| points <= up_to);
            if !within {
                return Err(MappingError::invalid_options(format!(
                    "{at}.points ({points}) must fall inside size `{}` itself",
                    entry.size
                )));
            }
            sizes.push(Size {
                name: entry.size,
                up_to: entry.up_to,
                points,
            });
        }
        Ok(Scale { sizes })
    }

    /// The size whose bucket holds `points`.
    pub fn size_for(&self, points: f64) -> Result<&str, MappingError> {
        if !points.is_finite() || points < 0.0 {
            return Err(MappingError::new(format!(
                "{points} is not a valid number of story points"
            )));
        }
        let size = self
            .sizes
            .iter()
            .find(|size| size.up_to.is_none_or(|up_to| points <= up_to))
            // The last size has no upper bound, so only an empty scale gets here.
            .ok_or_else(|| MappingError::new("the scale is empty"))?;
        Ok(&size.name)
    }

    /// The points that stand for `size` (matched case-insensitively).
    pub fn points_for(&self, size: &str) -> Result<Value, MappingError> {
        let found = self
            .sizes
            .iter()
            .find(|candidate| candidate.name.eq_ignore_ascii_case(size.trim()));
        match found {
            Some(size) => Ok(number(size.points)),
            None => {
                let known: Vec<&str> = self.sizes.iter().map(|s| s.name.as_str()).collect();
                Err(MappingError::new(format!(
                    "unknown size `{size}`; the scale has {}",
                    known.join(", ")
                )))
            }
        }
    }
}

/// Whole points as JSON integers (5, not 5.0), as people write them.
fn number(points: f64) -> Value {
    if points.fract() == 0.0 && points.abs() < 1e15 {
        Value::from(points as i64)
    } else {
        Value::from(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scale(options: Value) -> Result<Scale, MappingError> {
        Scale::from_options(&MappingOptions::new(options))
    }

    #[test]
    fn every_broken_scale_is_explained() {
        let cases = [
            (json!({"scale": []}), "lists no size"),
            (
                json!({"scale": [{"size": "", "up_to": 1}, {"size": "L", "points": 2}]}),
                "scale[0].size is empty",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 1}, {"size": "s", "points": 2}]}),
                "appears twice",
            ),
            (
                json!({"scale": [{"size": "S"}, {"size": "L", "points": 2}]}),
                "scale[0]: `up_to` is required",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 1}, {"size": "L", "up_to": 2}]}),
                "takes `points`",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 1}, {"size": "L"}]}),
                "needs `points`",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 3}, {"size": "M", "up_to": 3}, {"size": "L", "points": 5}]}),
                "must be larger",
            ),
            (json!({"scales": []}), "unknown field `scales`"),
            (
                json!({"scale": [{"size": "S", "up_to": -1}, {"size": "L", "points": 2}]}),
                "scale[0]: story points cannot be negative (-1)",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 3, "points": 10}, {"size": "L", "points": 13}]}),
                "scale[0].points (10) must fall inside size `S`",
            ),
            (
                json!({"scale": [{"size": "S", "up_to": 3}, {"size": "L", "points": 2}]}),
                "scale[1].points (2) must fall inside size `L`",
            ),
        ];
        for (options, expected) in cases {
            let error = scale(options.clone()).unwrap_err().to_string();
            assert!(error.contains(expected), "{options} gave {error}");
        }
    }

    #[test]
    fn fractional_points_stay_fractional() {
        let scale =
            scale(json!({"scale": [{"size": "S", "up_to": 0.5}, {"size": "L", "points": 2.5}]}))
                .unwrap();
        assert_eq!(scale.points_for("S").unwrap(), json!(0.5));
        assert_eq!(scale.points_for("L").unwrap(), json!(2.5));
        assert_eq!(scale.size_for(0.25).unwrap(), "S");
    }
}
