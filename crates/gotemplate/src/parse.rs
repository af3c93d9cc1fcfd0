//! The parser and the parse tree: Go `text/template/parse` semantics (pipelines, variables
//! and their scopes, control structures, `define`/`block`, number literals), with Go's
//! error texts (`template: NAME:LINE: unexpected "}" in operand`, `function "x" not defined`).
//!
//! Nodes keep their byte position so the executor can print Go's `NAME:LINE:COL` and
//! each node renders back to text the way Go's `Node.String()` does (used in errors).

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::lex::{Item, ItemType, Lexer};
use crate::value::Value;

/// Go's `maxStackDepth` for nested parenthesised pipelines.
const MAX_STACK_DEPTH: usize = 10_000;

/// One parsed template (a file's top level or a `define`/`block` body).
#[derive(Debug)]
pub(crate) struct Tree {
    pub name: String,
    /// Name of the top-level template being parsed (the file), used in error locations.
    pub parse_name: Arc<str>,
    /// Full text of the file the tree came from (for line/column of nodes).
    pub text: Arc<str>,
    pub root: List,
}

#[derive(Debug, Default)]
pub(crate) struct List {
    pub nodes: Vec<Node>,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text {
        text: Box<str>,
    },
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A numeric literal, stored under every type it can represent (Go's ideal constants).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub text: String,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub is_complex: bool,
    pub int64: i64,
    pub float64: f64,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    Variable {
        pos: usize,
        ident: Vec<String>,
    },
    Chain {
        pos: usize,
        node: Box<Arg>,
        field: Vec<String>,
    },
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Number,
    },
    String {
        pos: usize,
        quoted: String,
        /// The literal's Go string: any bytes (`"\xff"`), so a [`Value::String`] or
        /// [`Value::ByteStr`].
        value: Value,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { ident, .. } => {
                for id in ident {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            Arg::Variable { ident, .. } => f.write_str(&ident.join(".")),
            Arg::Chain { node, field, .. } => {
                if let Arg::Pipe(p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for id in field {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { val, .. } => f.write_str(if *val { "true" } else { "false" }),
            Arg::Number { num, .. } => f.write_str(&num.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stacker::maybe_grow(32 * 1024, 1024 * 1024, || self.fmt_inner(f))
    }
}

impl Pipe {
    fn fmt_inner(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stacker::maybe_grow(32 * 1024, 1024 * 1024, || {
            for n in &self.nodes {
                write!(f, "{n}")?;
            }
            Ok(())
        })
    }
}

// Trees can nest thousands deep (parentheses, control structures); dropping them
// recursively must not overflow the native stack either.
impl Drop for Pipe {
    fn drop(&mut self) {
        let cmds = std::mem::take(&mut self.cmds);
        stacker::maybe_grow(32 * 1024, 1024 * 1024, move || drop(cmds));
    }
}

impl Drop for List {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        stacker::maybe_grow(32 * 1024, 1024 * 1024, move || drop(nodes));
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut fmt::Formatter<'_>, name: &str, b: &Branch| -> fmt::Result {
            write!(f, "{{{{{name} {}}}}}{}", b.pipe, b.list)?;
            if let Some(e) = &b.else_list {
                write!(f, "{{{{else}}}}{e}")?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text { text } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => branch(f, "if", b),
            Node::Range(b) => branch(f, "range", b),
            Node::With(b) => branch(f, "with", b),
            Node::Template { name, pipe, .. } => {
                write!(f, "{{{{template {}", crate::gofmt::quote(name))?;
                if let Some(p) = pipe {
                    write!(f, " {p}")?;
                }
                f.write_str("}}")
            }
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

/// Go's `parse.IsEmptyTree`: only whitespace text (comments are dropped by the lexer).
pub(crate) fn is_empty_list(l: &List) -> bool {
    l.nodes
        .iter()
        .all(|n| matches!(n, Node::Text { text } if text.trim_matches(is_go_space).is_empty()))
}

/// `bytes.TrimSpace`'s notion of space (Unicode White_Space).
fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// A parse failure, already in Go's text.
#[derive(Debug)]
pub(crate) struct ParseError(pub String);

type PResult<T> = Result<T, ParseError>;

/// Parses `text` as template `name`; returns every tree it defines (the top level
/// included), applying Go's "multiple definition" rule within this text.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, Tree>, ParseError> {
    let text_arc: Arc<str> = Arc::from(text);
    let parse_name: Arc<str> = Arc::from(name);
    let mut lex = Lexer::new(text);
    lex.break_ok = !has_func("break");
    lex.continue_ok = !has_func("continue");
    let mut p = Parser {
        lex,
        token: [dummy_item(), dummy_item(), dummy_item()],
        peek_count: 0,
        vars: vec!["$".into()],
        has_func,
        parse_name: parse_name.clone(),
        text: text_arc.clone(),
        action_line: 0,
        range_depth: 0,
        stack_depth: 0,
        tree_set: HashMap::new(),
    };
    let root = p.parse_top()?;
    let top = Tree {
        name: name.to_string(),
        parse_name,
        text: text_arc,
        root,
    };
    p.add(top)?;
    Ok(p.tree_set)
}

fn dummy_item() -> Item<'static> {
    Item {
        typ: ItemType::Eof,
        pos: 0,
        val: std::borrow::Cow::Borrowed(""),
        line: 1,
    }
}

struct Parser<'a, 'f> {
    lex: Lexer<'a>,
    token: [Item<'a>; 3],
    peek_count: usize,
    vars: Vec<std::borrow::Cow<'a, str>>,
    has_func: &'f dyn Fn(&str) -> bool,
    parse_name: Arc<str>,
    text: Arc<str>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
    tree_set: HashMap<String, Tree>,
}

/// Result of parsing an item list: the node that ended it.
enum End {
    End,
    Else,
}

/// An item of a list, or the `{{end}}`/`{{else}}` that terminates one.
enum ListItem {
    Node(Node),
    End(End),
}

impl<'a, 'f> Parser<'a, 'f> {
    fn errorf(&self, msg: impl fmt::Display) -> ParseError {
        ParseError(format!(
            "template: {}:{}: {}",
            self.parse_name, self.token[0].line, msg
        ))
    }

    fn next(&mut self) -> Item<'a> {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex.next_item();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item<'a>) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item<'a>, t1: Item<'a>) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item<'a> {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex.next_item();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item<'a> {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'a> {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item<'a>> {
        let t = self.next_non_space();
        if t.typ != expected {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, token: &Item<'_>, context: &str) -> ParseError {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    /// Go's `Tree.add` against this parse's tree set.
    fn add(&mut self, tree: Tree) -> PResult<()> {
        match self.tree_set.get(&tree.name) {
            Some(existing) if !is_empty_list(&existing.root) => {
                if !is_empty_list(&tree.root) {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        crate::gofmt::quote(&tree.name)
                    )));
                }
            }
            _ => {
                self.tree_set.insert(tree.name.clone(), tree);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List::default();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                ListItem::End(End::End) => return Err(self.errorf("unexpected {{end}}")),
                ListItem::End(End::Else) => return Err(self.errorf("unexpected {{else}}")),
                ListItem::Node(n) => root.nodes.push(n),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let name_tok = self.next_non_space();
        if name_tok.typ != ItemType::String && name_tok.typ != ItemType::RawString {
            return Err(self.unexpected(&name_tok, CONTEXT));
        }
        let name = unquote(&name_tok.val).map_err(|e| self.errorf(e))?;
        self.expect(ItemType::RightDelim, CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_stack = self.stack_depth;
        self.stack_depth = 0;
        let saved_range = self.range_depth;
        self.range_depth = 0;
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.stack_depth = saved_stack;
        self.range_depth = saved_range;
        if let End::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        let tree = Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
        };
        self.add(tree)
    }

    fn item_list(&mut self) -> PResult<(List, End)> {
        let mut list = List::default();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                ListItem::End(e) => return Ok((list, e)),
                ListItem::Node(n) => list.nodes.push(n),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<ListItem> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(ListItem::Node(Node::Text {
                text: token.val.into_owned().into_boxed_str(),
            })),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.action());
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<ListItem> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(ListItem::Node),
            ItemType::Break => {
                return self
                    .break_control(token.pos, "{{break}}")
                    .map(ListItem::Node);
            }
            ItemType::Continue => {
                return self
                    .break_control(token.pos, "{{continue}}")
                    .map(ListItem::Node);
            }
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(ListItem::End(End::End));
            }
            ItemType::If => {
                return self
                    .parse_control("if")
                    .map(|b| ListItem::Node(Node::If(b)));
            }
            ItemType::Range => {
                return self
                    .parse_control("range")
                    .map(|b| ListItem::Node(Node::Range(b)));
            }
            ItemType::Template => return self.template_control().map(ListItem::Node),
            ItemType::With => {
                return self
                    .parse_control("with")
                    .map(|b| ListItem::Node(Node::With(b)));
            }
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(ListItem::Node(Node::Action { pos, pipe }))
    }

    fn break_control(&mut self, pos: usize, what: &str) -> PResult<Node> {
        let token = self.next_non_space();
        if token.typ != ItemType::RightDelim {
            return Err(self.unexpected(&token, what));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{what} outside {{{{range}}}}")));
        }
        Ok(if what == "{{break}}" {
            Node::Break { pos }
        } else {
            Node::Continue { pos }
        })
    }

    fn else_control(&mut self) -> PResult<ListItem> {
        let peek = self.peek_non_space();
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(ListItem::End(End::Else));
        }
        self.expect(ItemType::RightDelim, "else")?;
        Ok(ListItem::End(End::Else))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let mark = self.vars.len();
        let r = self.parse_control_inner(context);
        self.vars.truncate(mark);
        r
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let End::Else = next {
            if context == "if" && self.peek().typ == ItemType::If {
                self.next();
                let b = self.parse_control("if")?;
                else_list = Some(List {
                    nodes: vec![Node::If(b)],
                });
            } else if context == "with" && self.peek().typ == ItemType::With {
                self.next();
                let b = self.parse_control("with")?;
                else_list = Some(List {
                    nodes: vec![Node::With(b)],
                });
            } else {
                let (l, next) = self.item_list()?;
                if let End::Else = next {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let saved_stack = std::mem::replace(&mut self.stack_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.stack_depth = saved_stack;
        let (list, end) = r?;
        if let End::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        let tree = Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
        };
        self.add(tree)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn parse_template_name(&mut self, token: &Item<'_>, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => {
                unquote(&token.val).map_err(|e| self.errorf(e))
            }
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            self.next();
            let token_after_variable = self.peek();
            let next = self.peek_non_space();
            if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val);
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                            continue 'decls;
                        }
                        _ => return Err(self.errorf("range can only initialize variables")),
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            } else if token_after_variable.typ == ItemType::Space {
                self.backup3(v, token_after_variable);
            } else {
                self.backup2(v);
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool { .. }
                    | Arg::Dot { .. }
                    | Arg::Nil { .. }
                    | Arg::Number { .. }
                    | Arg::String { .. }
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ == ItemType::Field {
            let pos = self.peek().pos;
            let mut fields = Vec::new();
            while self.peek().typ == ItemType::Field {
                let f = self.next().val;
                fields.push(f[1..].to_string());
            }
            return Ok(Some(match node {
                Arg::Field { mut ident, .. } => {
                    ident.extend(fields);
                    Arg::Field { pos, ident }
                }
                Arg::Variable { mut ident, .. } => {
                    ident.extend(fields);
                    Arg::Variable { pos, ident }
                }
                Arg::Bool { .. }
                | Arg::String { .. }
                | Arg::Number { .. }
                | Arg::Nil { .. }
                | Arg::Dot { .. } => {
                    return Err(self.errorf(format!(
                        "unexpected . after term {}",
                        crate::gofmt::quote(&node.to_string())
                    )));
                }
                other => Arg::Chain {
                    pos,
                    node: Box::new(other),
                    field: fields,
                },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_func)(&token.val) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        crate::gofmt::quote(&token.val)
                    )));
                }
                Arg::Identifier {
                    pos,
                    name: token.val.into_owned(),
                }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                let ident: Vec<String> = token.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == ident[0]) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(&ident[0])
                    )));
                }
                Arg::Variable { pos, ident }
            }
            ItemType::Field => Arg::Field {
                pos,
                ident: token.val[1..].split('.').map(str::to_string).collect(),
            },
            ItemType::Bool => Arg::Bool {
                pos,
                val: token.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                let num = new_number(&token.val, token.typ).map_err(|e| self.errorf(e))?;
                Arg::Number { pos, num }
            }
            ItemType::LeftParen => {
                if self.stack_depth >= MAX_STACK_DEPTH {
                    return Err(self.errorf("max expression depth exceeded"));
                }
                self.stack_depth += 1;
                let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    self.pipeline("parenthesized pipeline", ItemType::RightParen)
                });
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            ItemType::String | ItemType::RawString => {
                let s = unquote_bytes(&token.val).map_err(|e| self.errorf(e))?;
                Arg::String {
                    pos,
                    quoted: token.val.into_owned(),
                    value: Value::string_from_bytes(s),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Unquote` for `"..."` and `` `...` `` literals, as text (a template name):
/// bytes that are not UTF-8 become U+FFFD.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    unquote_bytes(s).map(|b| match String::from_utf8(b) {
        Ok(text) => text,
        Err(e) => crate::value::go_lossy(e.as_bytes()).into_owned(),
    })
}

/// Go's `strconv.Unquote`: the literal's bytes (`\xff` and octal escapes give any byte).
pub(crate) fn unquote_bytes(s: &str) -> Result<Vec<u8>, String> {
    const SYNTAX: &str = "invalid syntax";
    if s.len() < 2 {
        return Err(SYNTAX.into());
    }
    let q = s.as_bytes()[0];
    if q != s.as_bytes()[s.len() - 1] {
        return Err(SYNTAX.into());
    }
    let body = &s[1..s.len() - 1];
    if q == b'`' {
        if body.contains('`') {
            return Err(SYNTAX.into());
        }
        return Ok(body.replace('\r', "").into_bytes());
    }
    if q != b'"' && q != b'\'' {
        return Err(SYNTAX.into());
    }
    if body.contains('\n') {
        return Err(SYNTAX.into());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let (c, tail) = unquote_char(rest, q as char).map_err(|_| SYNTAX.to_string())?;
        match c {
            Unq::Char(ch) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            Unq::Byte(b) => out.push(b),
        }
        rest = tail;
        if q == b'\'' && !rest.is_empty() {
            return Err(SYNTAX.into());
        }
    }
    Ok(out)
}

pub(crate) enum Unq {
    Char(char),
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`.
pub(crate) fn unquote_char(s: &str, quote: char) -> Result<(Unq, &str), ()> {
    let mut chars = s.chars();
    let c = chars.next().ok_or(())?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(());
    }
    if c != '\\' {
        return Ok((Unq::Char(c), chars.as_str()));
    }
    let e = chars.next().ok_or(())?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return Err(());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(ch) = simple {
        return Ok((Unq::Char(ch), rest));
    }
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            if rest.len() < n || !rest.is_char_boundary(n) {
                return Err(());
            }
            let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| ())?;
            if rest[..n].starts_with(['+', '-']) {
                return Err(());
            }
            if e == 'x' {
                return Ok((Unq::Byte(v as u8), &rest[n..]));
            }
            let ch = char::from_u32(v).ok_or(())?;
            Ok((Unq::Char(ch), &rest[n..]))
        }
        '0'..='7' => {
            if rest.len() < 2 || !rest.is_char_boundary(2) {
                return Err(());
            }
            let digits = format!("{e}{}", &rest[..2]);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(());
            }
            let v = u32::from_str_radix(&digits, 8).map_err(|_| ())?;
            if v > 255 {
                return Err(());
            }
            Ok((Unq::Byte(v as u8), &rest[2..]))
        }
        _ => Err(()),
    }
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = '^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        i += 2;
        saw = '0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint`: returns the magnitude and sign.
fn parse_int_base0(s: &str, allow_sign: bool) -> Option<(bool, u64)> {
    let mut t = s;
    let mut neg = false;
    if allow_sign {
        if let Some(r) = t.strip_prefix('-') {
            neg = true;
            t = r;
        } else if let Some(r) = t.strip_prefix('+') {
            t = r;
        }
    }
    if t.is_empty() {
        return None;
    }
    let (base, digits) = if t.len() >= 2 && t.as_bytes()[0] == b'0' {
        match t.as_bytes()[1] | 0x20 {
            b'x' => (16, &t[2..]),
            b'o' => (8, &t[2..]),
            b'b' => (2, &t[2..]),
            _ => (8, &t[1..]),
        }
    } else {
        (10, t)
    };
    if t.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let v = u64::from_str_radix(&clean, base).ok()?;
    Some((neg, v))
}

/// Go's `strconv.ParseFloat(s, 64)` for the syntax the lexer can produce.
fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        // Hex float: mantissa must be followed by a p exponent.
        let (mant, exp) = hex.split_once('p')?;
        let exp: i32 = exp.parse().ok()?;
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        if ip.is_empty() && fp.is_empty() {
            return None;
        }
        let mut v = 0f64;
        for c in ip.chars() {
            v = v * 16.0 + f64::from(c.to_digit(16)?);
        }
        let mut scale = 1.0 / 16.0;
        for c in fp.chars() {
            v += f64::from(c.to_digit(16)?) * scale;
            scale /= 16.0;
        }
        v * 2f64.powi(exp)
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = body.parse().ok()?;
        if v.is_infinite() {
            return None;
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// Go's `parse.newNumber`.
pub(crate) fn new_number(text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int64: 0,
        float64: 0.0,
    };
    match typ {
        ItemType::CharConstant => {
            let inner = &text[1..];
            let (c, tail) = unquote_char(inner, '\'').map_err(|_| "invalid syntax".to_string())?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            let v = match c {
                Unq::Char(c) => i64::from(c as u32),
                Unq::Byte(b) => i64::from(b),
            };
            n.int64 = v;
            n.is_int = true;
            n.is_uint = true;
            n.float64 = v as f64;
            n.is_float = true;
            return Ok(n);
        }
        ItemType::Complex => {
            n.is_complex = true;
            return Ok(n);
        }
        _ => {}
    }
    if let Some(im) = text.strip_suffix('i')
        && let Some(f) = parse_float(im)
    {
        {
            n.is_complex = true;
            if f == 0.0 {
                n.is_float = true;
                n.is_int = true;
                n.is_uint = true;
            }
            return Ok(n);
        }
    }
    let u = parse_int_base0(text, false).map(|(_, v)| v);
    if let Some(u) = u {
        n.is_uint = true;
        n.float64 = u as f64;
    }
    if let Some((neg, mag)) = parse_int_base0(text, true) {
        let i = if neg {
            if mag <= i64::MAX as u64 + 1 {
                Some((mag as i64).wrapping_neg())
            } else {
                None
            }
        } else if mag <= i64::MAX as u64 {
            Some(mag as i64)
        } else {
            None
        };
        if let Some(i) = i {
            n.is_int = true;
            n.int64 = i;
            if i == 0 {
                n.is_uint = true;
            }
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float64 = n.int64 as f64;
    } else if n.is_uint {
        n.is_float = true;
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        n.is_float = true;
        n.float64 = f;
        if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
            n.is_int = true;
            n.int64 = f as i64;
        }
        if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text)
        ));
    }
    Ok(n)
}
