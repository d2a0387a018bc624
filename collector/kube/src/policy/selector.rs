//! Label selectors as NetworkPolicies use them (`podSelector`, `namespaceSelector`):
//! `matchLabels` and `matchExpressions`, all of which must hold; the empty selector selects
//! everything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An object's labels.
pub type Labels = BTreeMap<String, String>;

/// A label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(default)]
    pub match_labels: Labels,
    /// Requirements that must all hold.
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The label.
    pub key: String,
    /// How its value is tested.
    pub operator: Operator,
    /// The values of `In` and `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl Operator {
    /// The operator the API names `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "In" => Some(Self::In),
            "NotIn" => Some(Self::NotIn),
            "Exists" => Some(Self::Exists),
            "DoesNotExist" => Some(Self::DoesNotExist),
            _ => None,
        }
    }
}

impl LabelSelector {
    /// Whether an object whose label `key` is `label(key)` is selected.
    pub fn matches<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| label(key) == Some(value.as_str()))
            && self.match_expressions.iter().all(|requirement| {
                let value = label(&requirement.key);
                let listed = || value.is_some_and(|v| requirement.values.iter().any(|w| w == v));
                match requirement.operator {
                    Operator::In => listed(),
                    Operator::NotIn => !listed(),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Whether `labels` are selected.
    pub fn selects(&self, labels: &Labels) -> bool {
        self.matches(|key| labels.get(key).map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn requirement(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn the_empty_selector_selects_everything_and_each_operator_means_what_the_api_says() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        assert!(LabelSelector::default().selects(&web));
        assert!(LabelSelector::default().selects(&Labels::new()));
        let with = |expressions: Vec<Requirement>| LabelSelector {
            match_labels: Labels::new(),
            match_expressions: expressions,
        };
        assert!(with(vec![requirement("app", Operator::In, &["web", "api"])]).selects(&web));
        assert!(!with(vec![requirement("app", Operator::In, &["api"])]).selects(&web));
        assert!(with(vec![requirement("app", Operator::NotIn, &["api"])]).selects(&web));
        assert!(with(vec![requirement("env", Operator::NotIn, &["prod"])]).selects(&web));
        assert!(with(vec![requirement("tier", Operator::Exists, &[])]).selects(&web));
        assert!(!with(vec![requirement("env", Operator::Exists, &[])]).selects(&web));
        assert!(with(vec![requirement("env", Operator::DoesNotExist, &[])]).selects(&web));
        let both = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![requirement("tier", Operator::In, &["back"])],
        };
        assert!(!both.selects(&web), "every part must hold");
    }
}
