//! Splits a migration file into top-level statements, each with the line it starts on, so that a
//! failing statement can be named by line even when PostgreSQL reports no error position.
//!
//! Tokenising is sqlparser's PostgreSQL tokenizer (quotes, dollar quotes, E'' strings, nested
//! comments); on top of it we add what psql does: a `CREATE FUNCTION ... BEGIN ATOMIC ... END`
//! body is one statement even though it contains semicolons.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One top-level statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text, including its terminating semicolon if any.
    pub text: String,
    /// 1-based line of the file where the statement starts.
    pub line: usize,
}

impl Statement {
    /// The statement's first keyword, upper-cased (for transaction-control detection).
    pub fn first_word(&self) -> String {
        first_words(&self.text, 1)
            .into_iter()
            .next()
            .unwrap_or_default()
    }
}

/// Splits `sql` into statements. When the tokenizer cannot read the file, the whole file is
/// returned as one statement, and PostgreSQL's own parser will report the problem.
pub fn split(sql: &str) -> Vec<Statement> {
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return whole(sql);
    };
    let offsets = LineIndex::new(sql);
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte offset, line)
    let mut words: Vec<String> = Vec::new(); // the first few words, to spot CREATE FUNCTION
    let mut depth = 0usize; // BEGIN ATOMIC / CASE nesting inside a routine body
    for t in &tokens {
        let is_trivia = matches!(t.token, Token::Whitespace(_) | Token::EOF);
        if start.is_none() {
            if is_trivia {
                continue;
            }
            let line = t.span.start.line as usize;
            let Some(off) = offsets.offset(line, t.span.start.column as usize) else {
                return whole(sql);
            };
            start = Some((off, line));
            words.clear();
            depth = 0;
        }
        if let Token::Word(w) = &t.token
            && w.quote_style.is_none()
        {
            if words.len() < 6 {
                words.push(w.value.to_uppercase());
            }
            if is_routine(&words) {
                match w.keyword {
                    Keyword::BEGIN | Keyword::CASE => depth += 1,
                    Keyword::END => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if t.token == Token::SemiColon && depth == 0 {
            let (s, line) = start.take().expect("statement started");
            let Some(end) =
                offsets.offset(t.span.start.line as usize, t.span.start.column as usize)
            else {
                return whole(sql);
            };
            out.push(Statement {
                text: sql[s..end + 1].to_string(),
                line,
            });
        }
    }
    if let Some((s, line)) = start {
        let text = sql[s..].trim_end();
        if !text.is_empty() {
            out.push(Statement {
                text: text.to_string(),
                line,
            });
        }
    }
    // A statement that is only a comment is trivia PostgreSQL would accept; drop it.
    out.retain(|s| !only_comments(&s.text));
    out
}

fn whole(sql: &str) -> Vec<Statement> {
    if sql.trim().is_empty() {
        return Vec::new();
    }
    vec![Statement {
        text: sql.to_string(),
        line: 1,
    }]
}

/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: the only statements whose body may hold semicolons
/// outside quotes (SQL-standard `BEGIN ATOMIC` bodies).
fn is_routine(words: &[String]) -> bool {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["CREATE", "FUNCTION" | "PROCEDURE", ..]
            | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE", ..]
    )
}

fn only_comments(text: &str) -> bool {
    let dialect = PostgreSqlDialect {};
    match Tokenizer::new(&dialect, text).tokenize() {
        Ok(tokens) => tokens.iter().all(|t| {
            matches!(
                t,
                Token::Whitespace(Whitespace::SingleLineComment { .. })
                    | Token::Whitespace(Whitespace::MultiLineComment(_))
                    | Token::Whitespace(_)
                    | Token::SemiColon
                    | Token::EOF
            )
        }),
        Err(_) => false,
    }
}

/// The first `n` unquoted words of a statement, upper-cased.
pub fn first_words(text: &str, n: usize) -> Vec<String> {
    let dialect = PostgreSqlDialect {};
    Tokenizer::new(&dialect, text)
        .tokenize()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(n)
        .filter_map(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
            _ => None,
        })
        .collect()
}

/// Maps the tokenizer's (line, column) — columns count characters — to byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn offset(&self, line: usize, column: usize) -> Option<usize> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let rest = &self.text[start..];
        match rest.char_indices().nth(column.checked_sub(1)?) {
            Some((i, _)) => Some(start + i),
            None => Some(self.text.len()),
        }
    }
}

/// The 1-based line of a 1-based character position within `text`, counting from `first_line`.
pub fn line_of_position(text: &str, first_line: usize, position: usize) -> usize {
    let newlines = text
        .chars()
        .take(position.saturating_sub(1))
        .filter(|&c| c == '\n')
        .count();
    first_line + newlines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(usize, String)> {
        split(sql).into_iter().map(|s| (s.line, s.text)).collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_with_lines() {
        let sql = "-- header\nCREATE TABLE a (x int);\n\nINSERT INTO a VALUES (1);\nSELECT 'a;b'";
        assert_eq!(
            texts(sql),
            vec![
                (2, "CREATE TABLE a (x int);".to_string()),
                (4, "INSERT INTO a VALUES (1);".to_string()),
                (5, "SELECT 'a;b'".to_string()),
            ]
        );
    }

    #[test]
    fn dollar_quoted_bodies_stay_whole() {
        let sql = "CREATE FUNCTION f() RETURNS void AS $$\nBEGIN\n  UPDATE t SET x = x + \
            1;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 1;";
        let got = split(sql);
        assert_eq!(got.len(), 2);
        assert!(got[0].text.ends_with("plpgsql;"));
        assert_eq!(got[1].line, 6);
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let sql = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  \
            SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND;\nSELECT 3;";
        let got = split(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].text, "SELECT 3;");
    }

    #[test]
    fn transaction_control_is_recognised() {
        let got = split("BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;");
        let words: Vec<String> = got.iter().map(Statement::first_word).collect();
        assert_eq!(words, ["BEGIN", "CREATE", "COMMIT"]);
    }

    #[test]
    fn comment_only_tail_is_dropped_and_multibyte_is_safe() {
        let got = split("SELECT 'é';\n/* trailing ü */\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text, "SELECT 'é';");
    }

    #[test]
    fn positions_map_to_lines() {
        assert_eq!(line_of_position("a\nb\nc", 10, 3), 11);
        assert_eq!(line_of_position("abc", 1, 1), 1);
    }
}
