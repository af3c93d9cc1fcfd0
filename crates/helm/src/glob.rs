//! The glob syntax of `.Files.Glob` (gobwas/glob compiled with `/` as separator):
//! `*` within a path segment, `**` across segments, `?`, `[a-z]`/`[!a-z]` classes,
//! `{a,b}` alternatives and `\` escapes. An invalid pattern matches nothing.

#[derive(Debug, Clone)]
enum Tok {
    Lit(char),
    Any,
    Super,
    Single,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Alt(Vec<Vec<Tok>>),
}

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    toks: Option<Vec<Tok>>,
}

fn parse(chars: &[char], pos: &mut usize, in_alt: bool) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            '*' => {
                if chars.get(*pos + 1) == Some(&'*') {
                    *pos += 2;
                    out.push(Tok::Super);
                } else {
                    *pos += 1;
                    out.push(Tok::Any);
                }
            }
            '?' => {
                *pos += 1;
                out.push(Tok::Single);
            }
            '\\' => {
                *pos += 1;
                let n = *chars.get(*pos)?;
                *pos += 1;
                out.push(Tok::Lit(n));
            }
            '[' => {
                *pos += 1;
                let negated = chars.get(*pos) == Some(&'!');
                if negated {
                    *pos += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    let lo = *chars.get(*pos)?;
                    if lo == ']' {
                        *pos += 1;
                        break;
                    }
                    *pos += 1;
                    if chars.get(*pos) == Some(&'-')
                        && chars.get(*pos + 1).is_some_and(|c| *c != ']')
                    {
                        let hi = chars[*pos + 1];
                        *pos += 2;
                        ranges.push((lo, hi));
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                out.push(Tok::Class { ranges, negated });
            }
            '{' => {
                *pos += 1;
                let mut alts = Vec::new();
                loop {
                    alts.push(parse(chars, pos, true)?);
                    match chars.get(*pos) {
                        Some(',') => *pos += 1,
                        Some('}') => {
                            *pos += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                out.push(Tok::Alt(alts));
            }
            ',' | '}' if in_alt => return Some(out),
            c => {
                *pos += 1;
                out.push(Tok::Lit(c));
            }
        }
    }
    if in_alt { None } else { Some(out) }
}

fn match_at(toks: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_at(rest, &s[1..]),
        Tok::Single => s.first().is_some_and(|c| *c != '/') && match_at(rest, &s[1..]),
        Tok::Class { ranges, negated } => {
            s.first()
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_at(rest, &s[1..])
        }
        Tok::Any => {
            for i in 0..=s.len() {
                if match_at(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    return false;
                }
            }
            false
        }
        Tok::Super => (0..=s.len()).any(|i| match_at(rest, &s[i..])),
        Tok::Alt(alts) => alts.iter().any(|a| {
            let mut joined = a.clone();
            joined.extend_from_slice(rest);
            match_at(&joined, s)
        }),
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        Glob {
            toks: parse(&chars, &mut pos, false),
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        let Some(t) = &self.toks else { return false };
        let chars: Vec<char> = s.chars().collect();
        match_at(t, &chars)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn gobwas_semantics() {
        assert!(Glob::new("conf/*").matches("conf/a.conf"));
        assert!(!Glob::new("conf/*").matches("conf/sub/a.conf"));
        assert!(Glob::new("conf/**").matches("conf/sub/a.conf"));
        assert!(Glob::new("*.{yaml,json}").matches("x.json"));
        assert!(Glob::new("[!a]?.txt").matches("bc.txt"));
        assert!(!Glob::new("[!a]?.txt").matches("ac.txt"));
        assert!(!Glob::new("{a,b").matches("a"));
    }
}
