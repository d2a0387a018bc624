//! The filter language of the API and the UI, turned into DataFusion expressions (never into SQL
//! text). A filter compares fields of a dataset with values:
//!
//! ```text
//! src.namespace = "shop" and (port in (80, 443) or not dst.workload ~ "db")
//! ip = 10.0.0.0/8 and bytes >= 1000000 and transport != udp
//! ```
//!
//! Operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, `~` (contains, case-insensitive), `in (…)`,
//! `not in (…)`; combined with `and`, `or`, `not` and parentheses (`and` binds tighter). Values
//! are numbers, quoted strings, or bare words (names, IP addresses, CIDR blocks). A field without
//! `src.`/`dst.` (`namespace`, `ip`, …) matches either end. Errors name the position.

use std::fmt;
use std::net::IpAddr;

use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{and, or};

use crate::cidr::{Cidr, ip_in_cidr};

/// A filter that could not be understood, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset in the filter text (0-based).
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filter error at position {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for FilterError {}

fn error<T>(position: usize, message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError {
        position,
        message: message.into(),
    })
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `~`: contains, ignoring case.
    Contains,
}

/// A literal in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A whole number.
    Number(i64),
    /// Text (quoted, or a bare word).
    Text(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// It does not hold.
    Not(Box<Filter>),
    /// `field op value`.
    Compare {
        /// Field name.
        field: String,
        /// Where the field name starts.
        position: usize,
        /// Operator.
        op: Op,
        /// Value.
        value: Value,
    },
    /// `field [not] in (values)`.
    In {
        /// Field name.
        field: String,
        /// Where the field name starts.
        position: usize,
        /// The values.
        values: Vec<Value>,
        /// `not in`.
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Number(i64),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i] as char;
        let token = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '~' => Token::Op(Op::Contains),
            '=' => Token::Op(Op::Eq),
            '!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 1;
                Token::Op(Op::Ne)
            }
            '<' | '>' => {
                let equal = bytes.get(i + 1) == Some(&b'=');
                i += usize::from(equal);
                Token::Op(match (c, equal) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                })
            }
            '"' | '\'' => {
                let end = text[i + 1..].find(c).ok_or(FilterError {
                    position: i,
                    message: "unterminated string".into(),
                })?;
                let content = text[i + 1..i + 1 + end].to_owned();
                i += end + 1;
                Token::Quoted(content)
            }
            _ => {
                let end = text[i..]
                    .find(|ch: char| ch.is_whitespace() || "()=,!<>~\"'".contains(ch))
                    .map_or(text.len(), |offset| i + offset);
                if end == i {
                    return error(i, format!("unexpected {c:?}"));
                }
                let word = &text[i..end];
                i = end - 1;
                match word.parse::<i64>() {
                    Ok(number) => Token::Number(number),
                    Err(_) => Token::Word(word.to_owned()),
                }
            }
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses and `not` accepted.
pub const MAX_FILTER_DEPTH: usize = 32;
/// The most comparisons one filter may hold.
pub const MAX_FILTER_COMPARISONS: usize = 256;

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
    /// Parentheses and `not`s open at this point: bounded, so no request drives the
    /// recursion (here or in the query engine) deep.
    depth: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.end, |(position, _)| *position)
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
        self.next += usize::from(found);
        found
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        let position = self.position();
        if self.keyword("not") {
            self.enter(position)?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.enter(position)?;
            self.next += 1;
            let inner = self.or()?;
            if self.peek() != Some(&Token::Close) {
                return error(self.position(), "expected ')'");
            }
            self.next += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        self.comparisons += 1;
        if self.comparisons > MAX_FILTER_COMPARISONS {
            return error(
                position,
                format!("the filter holds more than {MAX_FILTER_COMPARISONS} comparisons"),
            );
        }
        self.comparison()
    }

    fn enter(&mut self, position: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return error(
                position,
                format!(
                    "the filter nests deeper than {MAX_FILTER_DEPTH} levels of parentheses and 'not'"
                ),
            );
        }
        Ok(())
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let position = self.position();
        let field = match self.peek() {
            Some(Token::Word(word))
                if !["and", "or", "not", "in"].contains(&word.to_ascii_lowercase().as_str()) =>
            {
                word.clone()
            }
            _ => return error(position, "expected a field name"),
        };
        self.next += 1;
        let negated = self.keyword("not");
        if self.keyword("in") {
            return Ok(Filter::In {
                field,
                position,
                values: self.list()?,
                negated,
            });
        }
        if negated {
            return error(self.position(), "expected 'in' after 'not'");
        }
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            _ => {
                return error(
                    self.position(),
                    format!("expected an operator after {field:?} (=, !=, <, <=, >, >=, ~, in)"),
                );
            }
        };
        self.next += 1;
        Ok(Filter::Compare {
            field,
            position,
            op,
            value: self.value()?,
        })
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let value = match self.peek() {
            Some(Token::Number(number)) => Value::Number(*number),
            Some(Token::Quoted(text)) => Value::Text(text.clone()),
            Some(Token::Word(word)) => Value::Text(word.clone()),
            _ => return error(self.position(), "expected a value"),
        };
        self.next += 1;
        Ok(value)
    }

    fn list(&mut self) -> Result<Vec<Value>, FilterError> {
        if self.peek() != Some(&Token::Open) {
            return error(self.position(), "expected '(' after 'in'");
        }
        self.next += 1;
        let mut values = vec![self.value()?];
        while self.peek() == Some(&Token::Comma) {
            self.next += 1;
            values.push(self.value()?);
        }
        if self.peek() != Some(&Token::Close) {
            return error(self.position(), "expected ',' or ')'");
        }
        self.next += 1;
        Ok(values)
    }
}

/// Parses filter text.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_BYTES {
        return error(
            MAX_FILTER_BYTES,
            format!("the filter is longer than {MAX_FILTER_BYTES} bytes"),
        );
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return error(0, "the filter is empty");
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end: text.len(),
        depth: 0,
        comparisons: 0,
    };
    let filter = parser.or()?;
    if parser.next < parser.tokens.len() {
        return error(
            parser.position(),
            "expected 'and', 'or' or the end of the filter",
        );
    }
    Ok(filter)
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Names and words.
    Text,
    /// Counts, ports.
    Number,
    /// Addresses, matched exactly or by CIDR block.
    Address,
}

/// What a filter field stands for in a dataset.
#[derive(Debug, Clone, Copy)]
pub enum Column {
    /// One column.
    One(&'static str),
    /// Either of two columns (a field of both ends).
    Either(&'static str, &'static str),
    /// The sum of two columns (both directions).
    Sum(&'static str, &'static str),
    /// A value computed from the row (a status class from a status code, …).
    Derived(fn() -> Expr),
}

impl Column {
    /// The field's one value per row, for grouping and sorting; `None` for a field of both ends,
    /// which has two.
    pub fn single(self) -> Option<Expr> {
        match self {
            Column::One(name) => Some(col(name)),
            Column::Sum(a, b) => Some(col(a) + col(b)),
            Column::Derived(expr) => Some(expr()),
            Column::Either(..) => None,
        }
    }
}

/// The fields a dataset can be filtered on.
pub type Fields = &'static [(&'static str, Column, Kind)];

impl Filter {
    /// The DataFusion expression of this filter over a dataset with these fields.
    pub fn to_expr(&self, fields: Fields) -> Result<Expr, FilterError> {
        match self {
            Filter::And(left, right) => Ok(and(left.to_expr(fields)?, right.to_expr(fields)?)),
            Filter::Or(left, right) => Ok(or(left.to_expr(fields)?, right.to_expr(fields)?)),
            Filter::Not(inner) => Ok(Expr::Not(Box::new(inner.to_expr(fields)?))),
            Filter::Compare {
                field,
                position,
                op: Op::Ne,
                value,
            } => {
                let (column, kind) = lookup(fields, field, *position)?;
                either(
                    column,
                    |expr| Ok(compare(expr, kind, Op::Eq, value, *position)?.is_not_true()),
                    true,
                )
            }
            Filter::Compare {
                field,
                position,
                op,
                value,
            } => {
                let (column, kind) = lookup(fields, field, *position)?;
                either(
                    column,
                    |expr| Ok(compare(expr, kind, *op, value, *position)?.is_true()),
                    false,
                )
            }
            Filter::In {
                field,
                position,
                values,
                negated,
            } => {
                let (column, kind) = lookup(fields, field, *position)?;
                let any = |expr: Expr| -> Result<Expr, FilterError> {
                    let alternatives = values
                        .iter()
                        .map(|value| compare(expr.clone(), kind, Op::Eq, value, *position))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(alternatives
                        .into_iter()
                        .reduce(or)
                        .expect("a list has a value"))
                };
                if *negated {
                    either(column, |expr| Ok(any(expr)?.is_not_true()), true)
                } else {
                    either(column, |expr| Ok(any(expr)?.is_true()), false)
                }
            }
        }
    }
}

fn lookup(fields: Fields, field: &str, position: usize) -> Result<(Column, Kind), FilterError> {
    match fields.iter().find(|(name, _, _)| *name == field) {
        Some((_, column, kind)) => Ok((*column, *kind)),
        None => {
            let known: Vec<&str> = fields.iter().map(|(name, _, _)| *name).collect();
            error(
                position,
                format!("unknown field {field:?}; fields: {}", known.join(", ")),
            )
        }
    }
}

/// Applies a comparison to the field's column(s): either end matches (both, for `!=`). Every
/// comparison is two-valued (`IS TRUE`): an unknown value simply does not match, so `!=`,
/// `not in` and `not` all keep the records whose value is unknown.
fn either(
    column: Column,
    compare: impl Fn(Expr) -> Result<Expr, FilterError>,
    all: bool,
) -> Result<Expr, FilterError> {
    match column {
        Column::Either(a, b) => {
            let (a, b) = (compare(col(a))?, compare(col(b))?);
            Ok(if all { and(a, b) } else { or(a, b) })
        }
        one => compare(one.single().expect("a field of one end has one value")),
    }
}

fn compare(
    expr: Expr,
    kind: Kind,
    op: Op,
    value: &Value,
    position: usize,
) -> Result<Expr, FilterError> {
    match (kind, value) {
        (Kind::Number, Value::Number(number)) => Ok(match op {
            Op::Eq => expr.eq(lit(*number)),
            Op::Ne => expr.not_eq(lit(*number)),
            Op::Lt => expr.lt(lit(*number)),
            Op::Le => expr.lt_eq(lit(*number)),
            Op::Gt => expr.gt(lit(*number)),
            Op::Ge => expr.gt_eq(lit(*number)),
            Op::Contains => return error(position, "'~' compares text, not numbers"),
        }),
        // A quoted integer is taken as one: the API writes ids beyond 2^53 as strings.
        (Kind::Number, Value::Text(text)) => match text.parse::<i64>() {
            Ok(number) => compare(expr, kind, op, &Value::Number(number), position),
            Err(_) => error(position, format!("expected a number, found {text:?}")),
        },
        (Kind::Address, Value::Text(text)) if text.contains('/') => {
            let cidr: Cidr = text
                .parse()
                .map_err(|message| FilterError { position, message })?;
            match op {
                Op::Eq => Ok(ip_in_cidr(expr, &cidr)),
                _ => error(position, "CIDR blocks take '=' or '!='"),
            }
        }
        (Kind::Address, Value::Text(text)) if op != Op::Contains => {
            let address: IpAddr = text.parse().map_err(|_| FilterError {
                position,
                message: format!("{text:?} is not an IP address or CIDR block"),
            })?;
            text_comparison(expr, op, &address.to_string(), position)
        }
        (_, Value::Number(number)) => text_comparison(expr, op, &number.to_string(), position),
        (_, Value::Text(text)) => text_comparison(expr, op, text, position),
    }
}

fn text_comparison(expr: Expr, op: Op, text: &str, position: usize) -> Result<Expr, FilterError> {
    Ok(match op {
        Op::Eq => expr.eq(lit(text)),
        Op::Ne => expr.not_eq(lit(text)),
        Op::Contains => {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            expr.ilike(lit(format!("%{escaped}%")))
        }
        _ => return error(position, "text fields take =, != or ~"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_lists_parse_as_written() {
        let filter =
            parse(r#"src.namespace = "shop" and (port in (80, 443) or not dst.workload ~ db)"#)
                .unwrap();
        let Filter::And(left, right) = filter else {
            panic!("and at the top")
        };
        assert!(
            matches!(*left, Filter::Compare { ref field, op: Op::Eq, value: Value::Text(ref v), .. } if field == "src.namespace" && v == "shop")
        );
        let Filter::Or(list, negated) = *right else {
            panic!("or inside the parentheses")
        };
        assert!(
            matches!(*list, Filter::In { ref values, negated: false, .. } if values == &[Value::Number(80), Value::Number(443)])
        );
        assert!(matches!(*negated, Filter::Not(_)));
        assert!(
            matches!(parse("a = 1 or b = 2 and c = 3").unwrap(), Filter::Or(_, _)),
            "and binds tighter"
        );
        assert!(matches!(
            parse("port not in (53)").unwrap(),
            Filter::In { negated: true, .. }
        ));
        assert!(
            matches!(parse("ip = 10.0.0.0/8").unwrap(), Filter::Compare { value: Value::Text(ref t), .. } if t == "10.0.0.0/8")
        );
    }

    #[test]
    fn hostile_filters_are_refused_by_the_limit_they_pass() {
        let deep = format!("{}port = 1{}", "(".repeat(30_000), ")".repeat(30_000));
        let refused = parse(&deep).unwrap_err();
        assert!(
            refused.message.contains("longer than 4096 bytes"),
            "{refused}"
        );
        let nested = format!("{}port = 1{}", "(".repeat(33), ")".repeat(33));
        let refused = parse(&nested).unwrap_err();
        assert_eq!(refused.position, 32);
        assert!(refused.message.contains("deeper than 32"), "{refused}");
        let nots = format!("{}port = 1", "not ".repeat(40));
        assert!(parse(&nots).unwrap_err().message.contains("deeper than 32"));
        let within = format!("{}port = 1{}", "(".repeat(32), ")".repeat(32));
        assert!(parse(&within).is_ok(), "32 levels are fine");
        let chain = vec!["port = 1"; 300].join(" or ");
        let refused = parse(&chain).unwrap_err();
        assert!(
            refused.message.contains("more than 256 comparisons"),
            "{refused}"
        );
        assert!(parse(&vec!["port = 1"; 256].join(" and ")).is_ok());
    }

    #[test]
    fn mistakes_name_their_position() {
        let cases = [
            ("", 0, "empty"),
            ("port =", 6, "expected a value"),
            ("port 80", 5, "expected an operator"),
            ("(port = 1", 9, "expected ')'"),
            ("port = 1 port = 2", 9, "expected 'and'"),
            ("name = \"open", 7, "unterminated"),
            ("port in 80", 8, "expected '('"),
            ("and = 1", 0, "expected a field name"),
        ];
        for (text, position, message) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.position, position, "{text:?}: {error}");
            assert!(error.message.contains(message), "{text:?}: {error}");
        }
    }

    const FIELDS: Fields = &[
        (
            "namespace",
            Column::Either("client_namespace", "server_namespace"),
            Kind::Text,
        ),
        ("port", Column::One("server_port"), Kind::Number),
        (
            "ip",
            Column::Either("client_ip", "server_ip"),
            Kind::Address,
        ),
    ];

    #[test]
    fn fields_and_values_are_checked_against_the_dataset() {
        let unknown = parse("workload = x").unwrap().to_expr(FIELDS).unwrap_err();
        assert!(
            unknown
                .message
                .contains("unknown field \"workload\"; fields: namespace, port, ip"),
            "{unknown}"
        );
        let wrong_type = parse("port = http").unwrap().to_expr(FIELDS).unwrap_err();
        assert_eq!(
            (wrong_type.position, wrong_type.message.as_str()),
            (0, "expected a number, found \"http\"")
        );
        assert_eq!(
            parse("port = \"80\"").unwrap().to_expr(FIELDS).unwrap(),
            parse("port = 80").unwrap().to_expr(FIELDS).unwrap(),
            "a quoted integer is an integer"
        );
        assert!(parse("ip = 10.0.0.0/33").unwrap().to_expr(FIELDS).is_err());
        assert!(parse("ip = nonsense").unwrap().to_expr(FIELDS).is_err());
        assert!(parse("namespace > a").unwrap().to_expr(FIELDS).is_err());
        let expr = parse("namespace != shop")
            .unwrap()
            .to_expr(FIELDS)
            .unwrap()
            .to_string();
        assert!(
            expr.contains("client_namespace = Utf8(\"shop\") IS NOT TRUE")
                && expr.contains(" AND "),
            "{expr}"
        );
    }
}
