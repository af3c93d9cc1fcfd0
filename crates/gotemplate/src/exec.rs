//! The executor: walks parse trees against data the way Go's `text/template` does under
//! Helm (`missingkey=zero`), including Go's distinction between a missing value
//! (prints `<no value>`) and a nil interface, the builtin functions, argument checking
//! against [`Function`] signatures, `CallContext` for `include`/`tpl`, and the safety limits
//! (nesting depth, output size, range iterations, cancellation).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::func::{CallContext, FastMap, FuncError, Function, Param, TplError};
use crate::gofmt;
use crate::parse::{Arg, Branch, Command, List, Node, Pipe, Tree};
use crate::set::{Error, ExecOptions, SetInner};
use crate::value::{IntKind, MapKind, Value};

/// A value during evaluation, with the two Go states our `Value` cannot express alone:
/// an invalid `reflect.Value` (a missing value) and a value whose static type is `interface {}`.
#[derive(Clone, Debug)]
pub(crate) enum Rv {
    /// Go's invalid `reflect.Value`: prints as `<no value>`.
    Invalid,
    /// A value read from an `interface {}` slot (map value, list element): may be nil.
    Iface(Value),
    /// A value of concrete type.
    Val(Value),
}

impl Rv {
    fn from_result(v: Value) -> Rv {
        if v.is_nil() {
            Rv::Iface(Value::Nil)
        } else {
            Rv::Val(v)
        }
    }
    /// Go's `indirectInterface`: nil interface becomes invalid, others their content.
    fn indirect(self) -> Rv {
        match self {
            Rv::Iface(Value::Nil) => Rv::Invalid,
            Rv::Iface(v) => Rv::Val(v),
            other => other,
        }
    }
    fn value(&self) -> Option<&Value> {
        match self {
            Rv::Invalid => None,
            Rv::Iface(v) | Rv::Val(v) => Some(v),
        }
    }
    fn into_value(self) -> Value {
        match self {
            Rv::Invalid => Value::Nil,
            Rv::Iface(v) | Rv::Val(v) => v,
        }
    }
    /// The Go type `reflect.Value.Type()` reports (before indirection).
    fn static_type(&self) -> String {
        match self {
            Rv::Invalid => "<invalid>".into(),
            Rv::Iface(_) => "interface {}".into(),
            Rv::Val(v) => v.type_name(),
        }
    }
}

/// Go's `isTrue` for a value after interface indirection.
pub(crate) fn truth(v: &Rv) -> bool {
    match v.value() {
        None => false,
        Some(v) => value_truth(v),
    }
}

/// Truthiness of a plain value (nil is false).
pub fn value_truth(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i, _) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::ByteStr(b) | Value::Bytes(b) => !b.is_empty(),
        Value::List(l, _) => !l.is_empty(),
        Value::Map(m, _) => !m.is_empty(),
        Value::Object(o) => match o.list_items() {
            Some(l) => value_truth(&l),
            None => o.map_entries().is_none_or(|e| !e.is_empty()),
        },
    }
}

/// A slice-like host object as its list (see [`crate::Object::list_items`]); anything else as is.
fn listify(v: Value) -> Value {
    match &v {
        Value::Object(o) => o.list_items().unwrap_or(v),
        _ => v,
    }
}

/// Shared by every nested execution of one top-level `execute` call.
pub(crate) struct Shared<'o> {
    pub opts: &'o ExecOptions,
    pub iterations: u64,
    pub include_counts: FastMap<String, usize>,
    /// A limit or cancellation error: it wins over any error text wrapping it.
    pub fatal: Option<Error>,
}

enum Flow {
    Break,
    Continue,
    Err(Error),
}

impl From<Error> for Flow {
    fn from(e: Error) -> Self {
        Flow::Err(e)
    }
}

type R<T> = Result<T, Error>;

/// The node being evaluated, for Go's error context.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

pub(crate) struct State<'t, 'o, 'sh> {
    set: &'t Arc<SetInner>,
    tree: &'t Tree,
    name: &'t str,
    /// Go's output writer: bytes, as the template printed them.
    out: Vec<u8>,
    vars: Vec<(&'t str, Rv)>,
    node: At<'t>,
    depth: usize,
    shared: &'sh mut Shared<'o>,
}

/// Which builtin a name refers to (when the host's map does not override it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Builtin {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Print,
    Printf,
    Println,
    Html,
    Js,
    Urlquery,
    Call,
}

pub(crate) const BUILTIN_NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge", "print",
    "printf", "println", "html", "js", "urlquery", "call",
];

fn builtin(name: &str) -> Option<Builtin> {
    Some(match name {
        "and" => Builtin::And,
        "or" => Builtin::Or,
        "not" => Builtin::Not,
        "len" => Builtin::Len,
        "index" => Builtin::Index,
        "slice" => Builtin::Slice,
        "eq" => Builtin::Eq,
        "ne" => Builtin::Ne,
        "lt" => Builtin::Lt,
        "le" => Builtin::Le,
        "gt" => Builtin::Gt,
        "ge" => Builtin::Ge,
        "print" => Builtin::Print,
        "printf" => Builtin::Printf,
        "println" => Builtin::Println,
        "html" => Builtin::Html,
        "js" => Builtin::Js,
        "urlquery" => Builtin::Urlquery,
        "call" => Builtin::Call,
        _ => return None,
    })
}

/// Parameter type of a builtin or a host function, as the executor checks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PType {
    /// `reflect.Value`: receives the raw evaluation state.
    Reflect,
    P(Param),
}

fn builtin_sig(b: Builtin) -> (&'static [PType], Option<PType>) {
    use Builtin::*;
    const R1: &[PType] = &[PType::Reflect];
    const R2: &[PType] = &[PType::Reflect, PType::Reflect];
    const S1: &[PType] = &[PType::P(Param::String)];
    match b {
        And | Or | Index | Slice | Eq | Call => (R1, Some(PType::Reflect)),
        Not | Len => (R1, None),
        Ne | Lt | Le | Gt | Ge => (R2, None),
        Print | Println | Html | Js | Urlquery => (&[], Some(PType::P(Param::Any))),
        Printf => (S1, Some(PType::P(Param::Any))),
    }
}

fn param_type_name(t: PType) -> &'static str {
    match t {
        PType::Reflect => "reflect.Value",
        PType::P(p) => match p {
            Param::Any => "interface {}",
            Param::String => "string",
            Param::Bool => "bool",
            Param::Int => "int",
            Param::Int64 => "int64",
            Param::Float64 => "float64",
            Param::List => "[]interface {}",
            Param::StringList => "[]string",
            Param::Map => "map[string]interface {}",
            Param::Bytes => "[]uint8",
        },
    }
}

fn can_be_nil(t: PType) -> bool {
    match t {
        PType::Reflect => true,
        PType::P(p) => matches!(
            p,
            Param::Any | Param::List | Param::StringList | Param::Map | Param::Bytes
        ),
    }
}

/// The zero value Go passes for a nil argument of a nillable type.
fn zero_of(p: Param) -> Value {
    match p {
        Param::List => Value::list(Vec::new()),
        Param::StringList => Value::string_list(Vec::new()),
        Param::Map => Value::map(Default::default()),
        Param::Bytes => Value::Bytes(Arc::from(Vec::new())),
        _ => Value::Nil,
    }
}

fn assignable(v: &Value, p: Param) -> bool {
    match p {
        Param::Any => true,
        Param::String => v.is_string(),
        Param::Bool => matches!(v, Value::Bool(_)),
        Param::Int => matches!(v, Value::Int(_, IntKind::Int)),
        Param::Int64 => matches!(v, Value::Int(_, IntKind::Int64)),
        Param::Float64 => matches!(v, Value::Float(_)),
        Param::List => matches!(v, Value::List(_, k) if k.is_any()),
        Param::StringList => matches!(v, Value::List(_, k) if k.is_string()),
        Param::Map => matches!(v, Value::Map(_, k) if k.is_any()),
        Param::Bytes => matches!(v, Value::Bytes(_)),
    }
}

/// An evaluated argument: raw for builtins, converted for host functions.
enum ArgVal {
    Raw(Rv),
    V(Value),
}

impl ArgVal {
    fn rv(self) -> Rv {
        match self {
            ArgVal::Raw(r) => r,
            ArgVal::V(v) => Rv::from_result(v),
        }
    }
    fn value(self) -> Value {
        match self {
            ArgVal::Raw(r) => r.into_value(),
            ArgVal::V(v) => v,
        }
    }
}

/// Go's `ErrorContext` location: `NAME:LINE:COL` with a 0-based byte column.
fn location(tree: &Tree, pos: usize) -> String {
    let pos = pos.min(tree.text.len());
    let text = &tree.text.as_bytes()[..pos];
    let line = 1 + text.iter().filter(|&&b| b == b'\n').count();
    let col = match text.iter().rposition(|&b| b == b'\n') {
        Some(i) => pos - (i + 1),
        None => pos,
    };
    format!("{}:{}:{}", tree.parse_name, line, col)
}

impl<'t, 'o, 'sh> State<'t, 'o, 'sh> {
    pub(crate) fn new(
        set: &'t Arc<SetInner>,
        tree: &'t Tree,
        name: &'t str,
        data: Rv,
        depth: usize,
        shared: &'sh mut Shared<'o>,
    ) -> Self {
        State {
            set,
            tree,
            name,
            out: Vec::new(),
            vars: vec![("$", data)],
            node: At::None,
            depth,
            shared,
        }
    }

    pub(crate) fn run(mut self, dot: Rv) -> R<Vec<u8>> {
        let tree = self.tree;
        match self.walk_list(&dot, &tree.root) {
            Ok(()) => Ok(self.out),
            Err(Flow::Err(e)) => Err(e),
            Err(_) => Ok(self.out),
        }
    }

    fn at_arg(&mut self, a: &'t Arg) {
        self.node = At::Arg(a);
    }

    /// Go's `state.errorf`: an execution error at the current node.
    fn errorf(&self, msg: impl std::fmt::Display) -> Error {
        let (pos, ctx) = match self.node {
            At::None => return Error::Exec(format!("template: {}: {}", self.name, msg)),
            At::Node(n) => (node_pos(n), n.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Arg(a) => (a.pos(), a.to_string()),
        };
        Error::Exec(format!(
            "template: {}: executing {} at <{}>: {}",
            location(self.tree, pos),
            gofmt::quote(self.name),
            ctx,
            msg
        ))
    }

    fn fatal(&mut self, e: Error) -> Error {
        self.shared.fatal = Some(e.clone());
        e
    }

    fn check_cancel(&mut self) -> R<()> {
        if let Some(c) = &self.shared.opts.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(self.fatal(Error::Cancelled));
        }
        Ok(())
    }

    /// Bounds values built by functions (a string doubled in a loop, a list appended to),
    /// with the output limit: memory cannot grow without bound before anything is written.
    fn check_size(&mut self, name: &str, v: &Value) -> R<()> {
        let size = match v {
            Value::String(s) => s.len(),
            Value::ByteStr(b) | Value::Bytes(b) => b.len(),
            Value::List(l, _) => l.len(),
            Value::Map(m, _) => m.len(),
            _ => 0,
        };
        if size > self.shared.opts.max_output {
            let e = Error::Limit(format!(
                "result of {name} exceeds the limit of {} bytes or elements",
                self.shared.opts.max_output
            ));
            return Err(self.fatal(e));
        }
        Ok(())
    }

    fn write(&mut self, s: &[u8]) -> R<()> {
        self.out.extend_from_slice(s);
        if self.out.len() > self.shared.opts.max_output {
            let e = Error::Limit(format!(
                "template output exceeds {} bytes",
                self.shared.opts.max_output
            ));
            return Err(self.fatal(e));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Rv, list: &'t List) -> Result<(), Flow> {
        for n in &list.nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Rv, node: &'t Node) -> Result<(), Flow> {
        self.node = At::Node(node);
        match node {
            Node::Text { text } => self.write(text.as_bytes())?,
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.node = At::Node(node);
                    match &val {
                        Rv::Invalid => self.write(b"<no value>")?,
                        Rv::Iface(v) | Rv::Val(v) => match v {
                            Value::String(s) => self.write(s.as_bytes())?,
                            Value::ByteStr(b) => self.write(b)?,
                            // An action prints the field itself (addressable), so a
                            // pointer-receiver `String()` applies.
                            Value::Object(o) => {
                                let s = o.display();
                                self.write(s.as_bytes())?
                            }
                            v => {
                                let s = gofmt::sprint_bytes(v);
                                self.write(&s)?
                            }
                        },
                    }
                }
            }
            Node::If(b) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.walk_if_with(dot, b, false))?
            }
            Node::With(b) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.walk_if_with(dot, b, true))?
            }
            Node::Range(b) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.walk_range(dot, node, b))?
            }
            Node::Template { name, pipe, .. } => {
                self.walk_template(dot, node, name, pipe.as_ref())?
            }
            Node::Break { .. } => return Err(Flow::Break),
            Node::Continue { .. } => return Err(Flow::Continue),
        }
        Ok(())
    }

    fn walk_if_with(&mut self, dot: &Rv, b: &'t Branch, with: bool) -> Result<(), Flow> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if truth(&val) {
                if with {
                    self.walk_list(&val, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Rv, node: &'t Node, b: &'t Branch) -> Result<(), Flow> {
        self.node = At::Node(node);
        let mark0 = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(mark0);
        match r {
            Err(Flow::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Rv, b: &'t Branch) -> Result<(), Flow> {
        let val = self.eval_pipeline(dot, &b.pipe)?.indirect();
        let mark = self.vars.len();
        // The index/key value is only observable with two declared variables.
        let need_index = b.pipe.decl.len() > 1;
        let listed = match val.value() {
            Some(Value::Object(o)) => o.list_items(),
            _ => None,
        };
        let items: Vec<(Rv, Rv)> = match listed.as_ref().or(val.value()) {
            None => Vec::new(),
            Some(v) => match v {
                Value::List(l, kind) => l
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let e = if kind.is_any() {
                            Rv::Iface(e.clone())
                        } else {
                            Rv::Val(e.clone())
                        };
                        (Rv::Val(Value::int(i as i64)), e)
                    })
                    .collect(),
                Value::Bytes(bs) => bs
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        (
                            Rv::Val(Value::int(i as i64)),
                            Rv::Val(Value::Int(i64::from(x), IntKind::Uint8)),
                        )
                    })
                    .collect(),
                Value::Map(m, kind) => {
                    let mut entries: Vec<(String, Value)> = m.snapshot().into_iter().collect();
                    // Go ranges over a map in sorted key order, bytewise.
                    crate::value::sort_go_key_order(&mut entries);
                    entries
                        .into_iter()
                        .map(|(k, e)| {
                            let e = if kind.is_any() {
                                Rv::Iface(e)
                            } else {
                                Rv::Val(e)
                            };
                            let key = if need_index {
                                Rv::Val(crate::value::key_value(&k))
                            } else {
                                Rv::Invalid
                            };
                            (key, e)
                        })
                        .collect()
                }
                Value::Object(o) if o.map_entries().is_some() => o
                    .map_entries()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, e)| {
                        let key = if need_index {
                            Rv::Val(Value::str(k.as_str()))
                        } else {
                            Rv::Invalid
                        };
                        (key, Rv::Val(e))
                    })
                    .collect(),
                other => {
                    return Err(Flow::Err(self.errorf(format!(
                        "range can't iterate over {}",
                        gofmt::sprint(other)
                    ))));
                }
            },
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                return self.walk_list(dot, e);
            }
            return Ok(());
        }
        let decl = &b.pipe.decl;
        for (index, elem) in items {
            self.check_cancel()?;
            self.shared.iterations += 1;
            if self.shared.iterations > self.shared.opts.max_range_iterations {
                let e = Error::Limit(format!(
                    "range iterations exceed the limit of {}",
                    self.shared.opts.max_range_iterations
                ));
                return Err(Flow::Err(self.fatal(e)));
            }
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    if decl.len() > 1 {
                        self.set_var(&decl[0], index.clone())?;
                    } else {
                        self.set_var(&decl[0], elem.clone())?;
                    }
                } else {
                    let n = self.vars.len();
                    self.vars[n - 1].1 = elem.clone();
                }
            }
            if decl.len() > 1 {
                if b.pipe.is_assign {
                    self.set_var(&decl[1], elem.clone())?;
                } else {
                    let n = self.vars.len();
                    self.vars[n - 2].1 = index;
                }
            }
            let r = self.walk_list(&elem, &b.list);
            self.vars.truncate(mark);
            match r {
                Ok(()) | Err(Flow::Continue) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, value: Rv) -> R<()> {
        for v in self.vars.iter_mut().rev() {
            if v.0 == name {
                v.1 = value;
                return Ok(());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn var_value(&self, name: &str) -> R<Rv> {
        for v in self.vars.iter().rev() {
            if v.0 == name {
                return Ok(v.1.clone());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn walk_template(
        &mut self,
        dot: &Rv,
        node: &'t Node,
        name: &str,
        pipe: Option<&'t Pipe>,
    ) -> Result<(), Flow> {
        self.node = At::Node(node);
        let set: &'t Arc<SetInner> = self.set;
        let Some(tree) = set.templates.get(name) else {
            return Err(Flow::Err(
                self.errorf(format!("template {} not defined", gofmt::quote(name))),
            ));
        };
        if self.depth >= self.shared.opts.max_depth {
            let e = self.errorf(format!(
                "exceeded maximum template depth ({})",
                self.shared.opts.max_depth
            ));
            return Err(Flow::Err(e));
        }
        self.check_cancel()?;
        let newdot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Rv::Invalid,
        };
        let tree: &'t Tree = tree;
        let mut sub = State {
            set: self.set,
            tree,
            name: &tree.name,
            out: std::mem::take(&mut self.out),
            vars: vec![("$", newdot.clone())],
            node: At::None,
            depth: self.depth + 1,
            shared: &mut *self.shared,
        };
        let r = stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || {
            sub.walk_list(&newdot, &tree.root)
        });
        self.out = sub.out;
        match r {
            Err(Flow::Err(e)) => Err(Flow::Err(e)),
            _ => Ok(()),
        }
    }

    fn eval_pipeline(&mut self, dot: &Rv, pipe: &'t Pipe) -> R<Rv> {
        self.node = At::Pipe(pipe);
        let mut value: Option<Rv> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.indirect());
        }
        let value = value.unwrap_or(Rv::Invalid);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &'t [Arg], fin: &Option<Rv>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.errorf(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Rv, cmd: &'t Command, fin: Option<Rv>) -> R<Rv> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { ident, .. } => {
                self.at_arg(first);
                return self.eval_field_chain(dot, dot.clone(), first, ident, &cmd.args, fin);
            }
            Arg::Chain { node, field, .. } => {
                return self.eval_chain(dot, first, node, field, &cmd.args, fin);
            }
            Arg::Identifier { name, .. } => {
                self.at_arg(first);
                return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.eval_pipeline(dot, p));
            }
            Arg::Variable { ident, .. } => {
                return self.eval_variable(dot, first, ident, &cmd.args, fin);
            }
            _ => {}
        }
        self.at_arg(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Rv::Val(Value::Bool(*val))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command")),
            Arg::Number { num, .. } => self.ideal_constant(first, num),
            Arg::String { value, .. } => Ok(Rv::Val(value.clone())),
            _ => Err(self.errorf(format!(
                "can't evaluate command {}",
                gofmt::quote(&first.to_string())
            ))),
        }
    }

    fn ideal_constant(&mut self, node: &'t Arg, n: &crate::parse::Number) -> R<Rv> {
        self.at_arg(node);
        let t = &n.text;
        if n.is_complex {
            return Ok(Rv::Val(Value::str(complex_text(t))));
        }
        let is_hex_int = t.len() > 2
            && t.starts_with('0')
            && matches!(t.as_bytes()[1], b'x' | b'X')
            && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Rv::Val(Value::Float(n.float64)));
        }
        if n.is_int {
            return Ok(Rv::Val(Value::int(n.int64)));
        }
        if n.is_uint {
            return Err(self.errorf(format!("{t} overflows int")));
        }
        Ok(Rv::Invalid)
    }

    fn eval_chain(
        &mut self,
        dot: &Rv,
        chain: &'t Arg,
        base: &'t Arg,
        field: &'t [String],
        args: &'t [Arg],
        fin: Option<Rv>,
    ) -> R<Rv> {
        self.at_arg(chain);
        if let Arg::Nil { .. } = base {
            return Err(self.errorf(format!("indirection through explicit nil in {chain}")));
        }
        let recv = self.eval_arg_raw(dot, base)?;
        self.eval_field_chain(dot, recv, chain, field, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &Rv,
        node: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Rv>,
    ) -> R<Rv> {
        self.at_arg(node);
        let value = self.var_value(&ident[0])?;
        if ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, node, &ident[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Rv,
        mut recv: Rv,
        node: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Rv>,
    ) -> R<Rv> {
        let n = ident.len();
        for id in &ident[..n - 1] {
            recv = self.eval_field(dot, id, node, &[], None, recv)?;
        }
        self.eval_field(dot, &ident[n - 1], node, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Rv,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Rv>,
        recv: Rv,
    ) -> R<Rv> {
        let typ = recv.static_type();
        let v = match recv {
            Rv::Invalid => {
                if self.shared.opts.missing_key_error {
                    return Err(
                        self.errorf(format!("nil data; no entry for key {}", gofmt::quote(name)))
                    );
                }
                return Ok(Rv::Invalid);
            }
            Rv::Iface(Value::Nil) => {
                return Err(self.errorf(format!("nil pointer evaluating interface {{}}.{name}")));
            }
            Rv::Iface(v) | Rv::Val(v) => v,
        };
        let has_args = args.len() > 1 || fin.is_some();
        match &v {
            Value::Object(o) => {
                if o.has_method(name)
                    && let Some((params, variadic)) = o.method_params(name)
                {
                    let callee = Callee::Method(o.clone(), params, variadic);
                    return self.eval_call(dot, callee, At::Arg(node), name, args, fin);
                }
                if o.has_method(name) {
                    let mut argv = Vec::new();
                    for a in args.iter().skip(1) {
                        let x = self.eval_arg(dot, a, PType::P(Param::Any))?;
                        argv.push(x.value());
                    }
                    if let Some(f) = fin {
                        argv.push(f.into_value());
                    }
                    self.at_arg(node);
                    return match o.call_method(name, &argv) {
                        Some(Ok(v)) => Ok(Rv::from_result(v)),
                        Some(Err(e)) => Err(self.errorf(format!("error calling {name}: {e}"))),
                        None => {
                            Err(self.errorf(format!("can't evaluate field {name} in type {typ}")))
                        }
                    };
                }
                if let Some(f) = o.field(name) {
                    if has_args {
                        return Err(self.errorf(format!(
                            "{name} has arguments but cannot be invoked as function"
                        )));
                    }
                    return Ok(Rv::from_result(f));
                }
            }
            Value::Map(m, kind) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                if self.shared.opts.missing_key_error && !m.contains_key(name) {
                    return Err(
                        self.errorf(format!("map has no entry for key {}", gofmt::quote(name)))
                    );
                }
                return Ok(match (m.get(name), kind) {
                    (Some(x), MapKind::String) => Rv::Val(x),
                    (Some(x), _) => Rv::Iface(x),
                    (None, MapKind::String) => Rv::Val(Value::str("")),
                    (None, _) => Rv::Iface(Value::Nil),
                });
            }
            _ => {}
        }
        Err(self.errorf(format!("can't evaluate field {name} in type {typ}")))
    }

    fn eval_function(
        &mut self,
        dot: &Rv,
        ident: &'t Arg,
        name: &str,
        call_node: At<'t>,
        args: &'t [Arg],
        fin: Option<Rv>,
    ) -> R<Rv> {
        self.at_arg(ident);
        let set: &'t Arc<SetInner> = self.set;
        if let Some(f) = set.funcs.get(name) {
            return self.eval_call(dot, Callee::Host(f), call_node, name, args, fin);
        }
        if let Some(b) = builtin(name) {
            return self.eval_call(dot, Callee::Builtin(b), call_node, name, args, fin);
        }
        Err(self.errorf(format!("{} is not a defined function", gofmt::quote(name))))
    }

    /// Go's `evalCall`: arity check, argument evaluation and conversion, the call.
    fn eval_call(
        &mut self,
        dot: &Rv,
        callee: Callee<'t>,
        call_node: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<Rv>,
    ) -> R<Rv> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let sig = match &callee {
            Callee::Builtin(b) => {
                let (f, v) = builtin_sig(*b);
                Sig::B(f, v)
            }
            Callee::Host(f) => Sig::P(f.params, f.variadic),
            Callee::Method(_, params, variadic) => Sig::P(params, *variadic),
        };
        let variadic = sig.variadic();
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = sig.len();
        if variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {num_fixed} got {}",
                    args.len()
                )));
            }
        } else if num_in != num_fixed {
            return Err(self.errorf(format!(
                "wrong number of args for {name}: want {num_fixed} got {num_in}"
            )));
        }
        // and/or short-circuit.
        if let Callee::Builtin(b @ (Builtin::And | Builtin::Or)) = callee {
            let mut v = Rv::Invalid;
            for a in args {
                v = self.eval_arg(dot, a, PType::Reflect)?.rv();
                if truth(&v.clone().indirect()) == (b == Builtin::Or) {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        // Go's `call` names its callee by the first argument's text (or the piped value).
        let call_name = match callee {
            Callee::Builtin(Builtin::Call) => args.first().map(ToString::to_string),
            _ => None,
        };
        let mut argv: Vec<ArgVal> = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let t = if i < num_fixed {
                sig.at(i)
            } else {
                variadic.expect("arity checked")
            };
            argv.push(self.eval_arg(dot, a, t)?);
        }
        if let Some(f) = fin {
            let t = match variadic {
                Some(v) if num_in > num_fixed => v,
                _ => sig.at(num_in - 1),
            };
            argv.push(self.validate_type(f, t)?);
        }
        match callee {
            Callee::Builtin(b) => match self.call_builtin(b, argv, call_name) {
                Ok(v) => {
                    if let Some(x) = v.value() {
                        self.check_size(name, x)?;
                    }
                    Ok(v)
                }
                Err(e) => {
                    self.node = call_node;
                    Err(self.errorf(format!("error calling {name}: {e}")))
                }
            },
            Callee::Method(o, _, _) => {
                let values: Vec<Value> = argv.into_iter().map(ArgVal::value).collect();
                match o.call_method(name, &values) {
                    Some(Ok(v)) => Ok(Rv::from_result(v)),
                    Some(Err(e)) => {
                        self.node = call_node;
                        Err(self.errorf(format!("error calling {name}: {e}")))
                    }
                    None => {
                        self.node = call_node;
                        Err(self.errorf(format!(
                            "can't evaluate field {name} in type {}",
                            o.type_name()
                        )))
                    }
                }
            }
            Callee::Host(f) => {
                let mut values: Vec<Value> = argv.into_iter().map(ArgVal::value).collect();
                if !f.bytes {
                    // A `string` parameter of a function not written for arbitrary bytes sees
                    // Go's rune view of them; an `interface{}` one gets the value as it is
                    // (`dict`, `list`, `default` carry a binary string along unchanged).
                    for (i, v) in values.iter_mut().enumerate() {
                        let param = f.params.get(i).copied().or(f.variadic);
                        if let Value::ByteStr(_) = v
                            && param == Some(Param::String)
                        {
                            *v = Value::str(v.str_lossy().unwrap_or_default().into_owned());
                        }
                    }
                }
                let mut ctx = Ctx {
                    set: self.set,
                    name: self.name,
                    depth: self.depth,
                    shared: &mut *self.shared,
                };
                let r = (f.f)(&mut ctx, &values);
                if let Some(e) = &self.shared.fatal {
                    return Err(e.clone());
                }
                match r {
                    Ok(v) => {
                        self.check_size(name, &v)?;
                        Ok(Rv::from_result(v))
                    }
                    Err(e) => {
                        self.node = call_node;
                        Err(self.errorf(format!("error calling {name}: {}", e.0)))
                    }
                }
            }
        }
    }

    /// `evalArg` with a nil type: the raw value (for a chain's base).
    fn eval_arg_raw(&mut self, dot: &Rv, n: &'t Arg) -> R<Rv> {
        Ok(self.eval_arg(dot, n, PType::Reflect)?.rv())
    }

    fn eval_arg(&mut self, dot: &Rv, n: &'t Arg, typ: PType) -> R<ArgVal> {
        self.at_arg(n);
        let rv = match n {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                if can_be_nil(typ) {
                    return Ok(match typ {
                        PType::Reflect => ArgVal::Raw(Rv::Invalid),
                        PType::P(p) => ArgVal::V(zero_of(p)),
                    });
                }
                return Err(self.errorf(format!("cannot assign nil to {}", param_type_name(typ))));
            }
            Arg::Field { ident, .. } => {
                self.eval_field_chain(dot, dot.clone(), n, ident, std::slice::from_ref(n), None)?
            }
            Arg::Variable { ident, .. } => self.eval_variable(dot, n, ident, &[], None)?,
            Arg::Pipe(p) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.eval_pipeline(dot, p))?
            }
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, n, name, At::Arg(n), &[], None)?
            }
            Arg::Chain { node, field, .. } => self.eval_chain(dot, n, node, field, &[], None)?,
            Arg::Bool { val, .. } => {
                return match typ {
                    PType::Reflect | PType::P(Param::Any | Param::Bool) => {
                        Ok(self.literal_ok(typ, Value::Bool(*val)))
                    }
                    _ => Err(self.literal_mismatch(n, typ)),
                };
            }
            Arg::String { value, .. } => {
                return match typ {
                    PType::Reflect | PType::P(Param::Any | Param::String) => {
                        Ok(self.literal_ok(typ, value.clone()))
                    }
                    _ => Err(self.literal_mismatch(n, typ)),
                };
            }
            Arg::Number { num, .. } => {
                return match typ {
                    PType::Reflect | PType::P(Param::Any) => {
                        let v = self.ideal_constant(n, num)?;
                        Ok(match typ {
                            PType::Reflect => ArgVal::Raw(v),
                            _ => ArgVal::V(v.into_value()),
                        })
                    }
                    PType::P(Param::Int) if num.is_int => Ok(ArgVal::V(Value::int(num.int64))),
                    PType::P(Param::Int64) if num.is_int => Ok(ArgVal::V(Value::int64(num.int64))),
                    PType::P(Param::Float64) if num.is_float => {
                        Ok(ArgVal::V(Value::Float(num.float64)))
                    }
                    _ => Err(self.literal_mismatch(n, typ)),
                };
            }
        };
        self.validate_type(rv, typ)
    }

    fn literal_ok(&self, typ: PType, v: Value) -> ArgVal {
        match typ {
            PType::Reflect => ArgVal::Raw(Rv::Val(v)),
            _ => ArgVal::V(v),
        }
    }

    fn literal_mismatch(&self, n: &Arg, typ: PType) -> Error {
        match typ {
            PType::P(Param::Bool) => self.errorf(format!("expected bool; found {n}")),
            PType::P(Param::String) => self.errorf(format!("expected string; found {n}")),
            PType::P(Param::Int | Param::Int64) => {
                self.errorf(format!("expected integer; found {n}"))
            }
            PType::P(Param::Float64) => self.errorf(format!("expected float; found {n}")),
            _ => self.errorf(format!(
                "can't handle {n} for arg of type {}",
                param_type_name(typ)
            )),
        }
    }

    /// Go's `validateType`.
    fn validate_type(&self, rv: Rv, typ: PType) -> R<ArgVal> {
        let p = match typ {
            PType::Reflect => return Ok(ArgVal::Raw(rv)),
            PType::P(p) => p,
        };
        match rv {
            Rv::Invalid => {
                if can_be_nil(typ) {
                    Ok(ArgVal::V(zero_of(p)))
                } else {
                    Err(self.errorf(format!("invalid value; expected {}", param_type_name(typ))))
                }
            }
            Rv::Iface(Value::Nil) => {
                if p == Param::Any {
                    return Ok(ArgVal::V(Value::Nil));
                }
                Err(self.errorf(format!(
                    "wrong type for value; expected {}; got interface {{}}",
                    param_type_name(typ)
                )))
            }
            Rv::Iface(v) | Rv::Val(v) => {
                if assignable(&v, p) {
                    Ok(ArgVal::V(v))
                } else {
                    Err(self.errorf(format!(
                        "wrong type for value; expected {}; got {}",
                        param_type_name(typ),
                        v.type_name()
                    )))
                }
            }
        }
    }

    fn call_builtin(
        &mut self,
        b: Builtin,
        argv: Vec<ArgVal>,
        call_name: Option<String>,
    ) -> Result<Rv, String> {
        let mut it = argv.into_iter();
        match b {
            Builtin::And | Builtin::Or => unreachable!("handled by eval_call"),
            Builtin::Not => {
                let a = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                Ok(Rv::Val(Value::Bool(!truth(&a.indirect()))))
            }
            Builtin::Len => {
                let a = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                match a {
                    Rv::Invalid => Err("reflect: call of reflect.Value.Type on zero Value".into()),
                    Rv::Iface(Value::Nil) => Err("len of nil pointer".into()),
                    Rv::Iface(v) | Rv::Val(v) => match &listify(v) {
                        Value::String(s) => Ok(Rv::Val(Value::int(s.len() as i64))),
                        Value::ByteStr(b) | Value::Bytes(b) => {
                            Ok(Rv::Val(Value::int(b.len() as i64)))
                        }
                        Value::List(l, _) => Ok(Rv::Val(Value::int(l.len() as i64))),
                        Value::Map(m, _) => Ok(Rv::Val(Value::int(m.len() as i64))),
                        Value::Object(o) if o.map_entries().is_some() => Ok(Rv::Val(Value::int(
                            o.map_entries().map_or(0, |e| e.len()) as i64,
                        ))),
                        other => Err(format!("len of type {}", other.type_name())),
                    },
                }
            }
            Builtin::Index => {
                let item = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let idx: Vec<Rv> = it.map(ArgVal::rv).collect();
                builtin_index(item, idx)
            }
            Builtin::Slice => {
                let item = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let idx: Vec<Rv> = it.map(ArgVal::rv).collect();
                builtin_slice(item, idx)
            }
            Builtin::Eq => {
                let a = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let rest: Vec<Rv> = it.map(ArgVal::rv).collect();
                eq(a, &rest).map(|b| Rv::Val(Value::Bool(b)))
            }
            Builtin::Ne => {
                let a = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let c = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let r = eq(a, &[c]);
                r.map(|b| Rv::Val(Value::Bool(!b)))
            }
            Builtin::Lt | Builtin::Le | Builtin::Gt | Builtin::Ge => {
                let a = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let c = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid);
                let r = match b {
                    Builtin::Lt => lt(&a, &c)?,
                    Builtin::Le => lt(&a, &c)? || eq(a, &[c])?,
                    Builtin::Gt => !(lt(&a, &c)? || eq(a, &[c])?),
                    _ => !lt(&a, &c)?,
                };
                Ok(Rv::Val(Value::Bool(r)))
            }
            Builtin::Print => Ok(Rv::Val(Value::string_from_bytes(gofmt::sprint_args_bytes(
                &it.map(ArgVal::value).collect::<Vec<_>>(),
            )))),
            Builtin::Println => Ok(Rv::Val(Value::string_from_bytes(
                gofmt::sprintln_args_bytes(&it.map(ArgVal::value).collect::<Vec<_>>()),
            ))),
            Builtin::Printf => {
                let fmt = it.next().map(ArgVal::value).unwrap_or(Value::Nil);
                let rest: Vec<Value> = it.map(ArgVal::value).collect();
                Ok(Rv::Val(Value::string_from_bytes(gofmt::sprintf_bytes(
                    fmt.str_bytes().unwrap_or_default(),
                    &rest,
                ))))
            }
            Builtin::Html => Ok(Rv::Val(Value::str(html_escape(&eval_args(
                it.map(ArgVal::rv).collect(),
            ))))),
            Builtin::Js => Ok(Rv::Val(Value::str(js_escape(&eval_args(
                it.map(ArgVal::rv).collect(),
            ))))),
            Builtin::Urlquery => Ok(Rv::Val(Value::str(query_escape(&eval_args(
                it.map(ArgVal::rv).collect(),
            ))))),
            Builtin::Call => {
                let f = it.next().map(ArgVal::rv).unwrap_or(Rv::Invalid).indirect();
                match f.value() {
                    None => Err("call of nil".into()),
                    Some(v) => {
                        // reflect.Value.String(): the text of a string, else `<T Value>`.
                        let name = call_name.unwrap_or_else(|| match v {
                            Value::String(_) | Value::ByteStr(_) => {
                                v.str_lossy().unwrap_or_default().into_owned()
                            }
                            other => format!("<{} Value>", other.type_name()),
                        });
                        Err(format!("non-function {name} of type {}", v.type_name()))
                    }
                }
            }
        }
    }
}

/// A callee's parameter list without allocating.
enum Sig {
    B(&'static [PType], Option<PType>),
    P(&'static [Param], Option<Param>),
}

impl Sig {
    fn len(&self) -> usize {
        match self {
            Sig::B(f, _) => f.len(),
            Sig::P(f, _) => f.len(),
        }
    }
    fn at(&self, i: usize) -> PType {
        match self {
            Sig::B(f, _) => f[i],
            Sig::P(f, _) => PType::P(f[i]),
        }
    }
    fn variadic(&self) -> Option<PType> {
        match self {
            Sig::B(_, v) => *v,
            Sig::P(_, v) => v.map(PType::P),
        }
    }
}

enum Callee<'t> {
    Builtin(Builtin),
    Host(&'t Function),
    Method(
        Arc<dyn crate::value::Object>,
        &'static [Param],
        Option<Param>,
    ),
}

fn node_pos(n: &Node) -> usize {
    match n {
        Node::Text { .. } => 0,
        Node::Action { pos, .. }
        | Node::Template { pos, .. }
        | Node::Break { pos }
        | Node::Continue { pos } => *pos,
        Node::If(b) | Node::Range(b) | Node::With(b) => b.pipe.pos,
    }
}

/// Go prints a complex constant as `(re+imi)`.
fn complex_text(t: &str) -> String {
    let t = t.trim_end_matches('i');
    // Split "a+b" / "a-b" at the sign that is not an exponent sign or leading sign.
    let bytes = t.as_bytes();
    let mut split = None;
    for i in 1..bytes.len() {
        if (bytes[i] == b'+' || bytes[i] == b'-')
            && !matches!(bytes[i - 1], b'e' | b'E' | b'p' | b'P')
        {
            split = Some(i);
        }
    }
    let (re, im) = match split {
        Some(i) => (&t[..i], &t[i..]),
        None => ("0", t),
    };
    let re: f64 = re.replace('_', "").parse().unwrap_or(0.0);
    let im: f64 = im.replace('_', "").parse().unwrap_or(0.0);
    let ims = gofmt::format_float(im, 'g', -1);
    let sign = if ims.starts_with('-') || ims.starts_with('+') {
        ""
    } else {
        "+"
    };
    format!("({}{}{}i)", gofmt::format_float(re, 'g', -1), sign, ims)
}

/// Go's `evalArgs` for html/js/urlquery: one string as is, otherwise `fmt.Sprint`.
fn eval_args(args: Vec<Rv>) -> String {
    if args.len() == 1
        && let Some(s) = args[0].value().and_then(Value::str_lossy)
    {
        return s.into_owned();
    }
    let vals: Vec<Value> = args
        .into_iter()
        .map(|a| match a.indirect() {
            Rv::Invalid => Value::str("<no value>"),
            other => other.into_value(),
        })
        .collect();
    gofmt::sprint_args(&vals)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if (c as u32) >= 0x80 && !gofmt::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `indexArg`.
fn index_arg(index: &Rv, cap: usize) -> Result<usize, String> {
    let x = match index.value() {
        None => return Err("cannot index slice/array with nil".into()),
        Some(Value::Int(i, _)) => *i,
        Some(v) => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// A map index argument: a string, with Go's messages otherwise.
fn string_index(index: &Rv) -> Result<Arc<str>, String> {
    match index.value() {
        None => Err("value is nil; should be of type string".into()),
        Some(Value::String(s)) => Ok(s.clone()),
        // A key of other bytes is looked up by its escaped form (see `value::key_from_bytes`).
        Some(Value::ByteStr(b)) => Ok(crate::value::key_from_bytes(b).into()),
        Some(other) => Err(format!(
            "value has type {}; should be string",
            other.type_name()
        )),
    }
}

fn builtin_index(item: Rv, indexes: Vec<Rv>) -> Result<Rv, String> {
    let mut item = item.indirect();
    if let Rv::Invalid = item {
        return Err("index of untyped nil".into());
    }
    for index in indexes {
        let index = index.indirect();
        let v = match item {
            Rv::Iface(Value::Nil) | Rv::Invalid => return Err("index of nil pointer".into()),
            Rv::Iface(v) | Rv::Val(v) => listify(v),
        };
        item = match &v {
            Value::List(l, kind) => {
                let x = index_arg(&index, l.len())?;
                let e = l.get(x).ok_or("reflect: slice index out of range")?.clone();
                if kind.is_any() {
                    Rv::Iface(e)
                } else {
                    Rv::Val(e)
                }
            }
            Value::Bytes(b) => {
                let x = index_arg(&index, b.len())?;
                let e = *b.get(x).ok_or("reflect: slice index out of range")?;
                Rv::Val(Value::Int(i64::from(e), IntKind::Uint8))
            }
            Value::String(_) | Value::ByteStr(_) => {
                let s = v.str_bytes().unwrap_or_default();
                let x = index_arg(&index, s.len())?;
                let e = *s.get(x).ok_or("reflect: string index out of range")?;
                Rv::Val(Value::Int(i64::from(e), IntKind::Uint8))
            }
            Value::Map(m, kind) => {
                let key = string_index(&index)?;
                match (m.get(&key), kind) {
                    (Some(x), MapKind::String) => Rv::Val(x),
                    (Some(x), _) => Rv::Iface(x),
                    (None, MapKind::String) => Rv::Val(Value::str("")),
                    (None, _) => Rv::Iface(Value::Nil),
                }
            }
            Value::Object(o) if o.map_entries().is_some() => {
                let key = string_index(&index)?;
                let found = o
                    .map_entries()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|(k, _)| k.as_str() == &*key);
                Rv::Val(found.map_or_else(|| o.map_zero(), |(_, v)| v))
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn builtin_slice(item: Rv, indexes: Vec<Rv>) -> Result<Rv, String> {
    let item = item.indirect();
    let Some(v) = item.value() else {
        return Err("slice of untyped nil".into());
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match v {
        Value::String(_) | Value::ByteStr(_) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            v.str_bytes().map_or(0, <[u8]>::len)
        }
        Value::List(l, _) => l.len(),
        Value::Bytes(b) => b.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0usize, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(&index.clone().indirect(), len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    let (i, j) = (idx[0], idx[1]);
    Ok(Rv::Val(match v {
        Value::String(_) | Value::ByteStr(_) => {
            Value::string_from_slice(&v.str_bytes().unwrap_or_default()[i..j])
        }
        Value::List(l, k) => Value::List(Arc::new(l[i..j].to_vec()), *k),
        Value::Bytes(b) => Value::Bytes(Arc::from(b[i..j].to_vec())),
        _ => unreachable!("checked above"),
    }))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Rv) -> BasicKind {
    match v.value() {
        Some(Value::Bool(_)) => BasicKind::Bool,
        Some(Value::Int(_, IntKind::Uint8)) => BasicKind::Uint,
        Some(Value::Int(..)) => BasicKind::Int,
        Some(Value::Float(_)) => BasicKind::Float,
        Some(Value::String(_) | Value::ByteStr(_)) => BasicKind::String,
        _ => BasicKind::Invalid,
    }
}

fn as_i64(v: &Rv) -> i64 {
    match v.value() {
        Some(Value::Int(i, _)) => *i,
        _ => 0,
    }
}

fn as_f64(v: &Rv) -> f64 {
    match v.value() {
        Some(Value::Float(f)) => *f,
        _ => 0.0,
    }
}

/// A string's bytes (Go compares strings bytewise).
fn as_str(v: &Rv) -> &[u8] {
    v.value().and_then(Value::str_bytes).unwrap_or_default()
}

fn as_bool(v: &Rv) -> bool {
    matches!(v.value(), Some(Value::Bool(true)))
}

/// Go's `eq` builtin.
fn eq(arg1: Rv, rest: &[Rv]) -> Result<bool, String> {
    let arg1 = arg1.indirect();
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(&arg1);
    for arg in rest {
        let arg = arg.clone().indirect();
        let k2 = basic_kind(&arg);
        let t = if k1 != k2 {
            match (k1, k2) {
                (BasicKind::Int, BasicKind::Uint) | (BasicKind::Uint, BasicKind::Int) => {
                    as_i64(&arg1) >= 0 && as_i64(&arg) >= 0 && as_i64(&arg1) == as_i64(&arg)
                }
                _ => {
                    if arg1.value().is_some() && arg.value().is_some() {
                        return Err("incompatible types for comparison".into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                BasicKind::Bool => as_bool(&arg1) == as_bool(&arg),
                BasicKind::Float => as_f64(&arg1) == as_f64(&arg),
                BasicKind::Int | BasicKind::Uint => as_i64(&arg1) == as_i64(&arg),
                BasicKind::String => as_str(&arg1) == as_str(&arg),
                BasicKind::Invalid => {
                    let (a, b) = (arg1.value(), arg.value());
                    match (a, b) {
                        (None, None) => true,
                        (None, Some(_)) | (Some(_), None) => false,
                        (Some(x), Some(y)) => {
                            if std::mem::discriminant(x) != std::mem::discriminant(y) {
                                return Err(format!(
                                    "non-comparable types {}: {}, {}: {}",
                                    gofmt::sprintf("%s", std::slice::from_ref(x)),
                                    x.type_name(),
                                    y.type_name(),
                                    gofmt::sprint(y)
                                ));
                            }
                            match (x, y) {
                                (Value::Object(p), Value::Object(q)) => Arc::ptr_eq(p, q),
                                _ => {
                                    return Err(format!(
                                        "non-comparable type {}: {}",
                                        gofmt::sprintf("%s", std::slice::from_ref(y)),
                                        y.type_name()
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        };
        if t {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt` builtin.
fn lt(a: &Rv, b: &Rv) -> Result<bool, String> {
    let a = a.clone().indirect();
    let b = b.clone().indirect();
    let k1 = basic_kind(&a);
    if k1 == BasicKind::Invalid {
        return Err("invalid type for comparison".into());
    }
    let k2 = basic_kind(&b);
    if k2 == BasicKind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (BasicKind::Int, BasicKind::Uint) => Ok(as_i64(&a) < 0 || as_i64(&a) < as_i64(&b)),
            (BasicKind::Uint, BasicKind::Int) => Ok(as_i64(&b) >= 0 && as_i64(&a) < as_i64(&b)),
            _ => Err("incompatible types for comparison".into()),
        };
    }
    Ok(match k1 {
        BasicKind::Bool | BasicKind::Invalid => return Err("invalid type for comparison".into()),
        BasicKind::Float => as_f64(&a) < as_f64(&b),
        BasicKind::Int | BasicKind::Uint => as_i64(&a) < as_i64(&b),
        BasicKind::String => as_str(&a) < as_str(&b),
    })
}

/// The `CallContext` handed to host functions.
struct Ctx<'t, 'o, 'sh> {
    set: &'t Arc<SetInner>,
    name: &'t str,
    depth: usize,
    shared: &'sh mut Shared<'o>,
}

/// Helm's per-name limit on nested `include`s.
const INCLUDE_NAME_LIMIT: usize = 1000;

impl Ctx<'_, '_, '_> {
    fn nested(&mut self, set: &Arc<SetInner>, tree: &Tree, data: &Value) -> Result<Vec<u8>, Error> {
        if self.depth >= self.shared.opts.max_depth {
            let e = Error::Limit(format!(
                "exceeded maximum template depth ({})",
                self.shared.opts.max_depth
            ));
            self.shared.fatal = Some(e.clone());
            return Err(e);
        }
        if let Some(c) = &self.shared.opts.cancel
            && c.load(Ordering::Relaxed)
        {
            self.shared.fatal = Some(Error::Cancelled);
            return Err(Error::Cancelled);
        }
        let dot = Rv::from_result(data.clone()).indirect();
        let st = State::new(
            set,
            tree,
            &tree.name,
            dot.clone(),
            self.depth + 1,
            &mut *self.shared,
        );
        stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, || st.run(dot))
    }
}

impl CallContext for Ctx<'_, '_, '_> {
    fn execute_template(&mut self, name: &str, data: &Value) -> Result<Vec<u8>, FuncError> {
        let count = self.shared.include_counts.get(name).copied();
        if let Some(v) = count
            && v > INCLUDE_NAME_LIMIT
        {
            return Err(FuncError(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            )));
        }
        match self.shared.include_counts.get_mut(name) {
            Some(c) => *c += 1,
            None => {
                self.shared.include_counts.insert(name.to_string(), 1);
            }
        }
        let set = self.set.clone();
        let r = match set.templates.get(name) {
            None => Err(Error::Exec(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name),
                gofmt::quote(&set.root_name)
            ))),
            Some(tree) => {
                let tree = tree.clone();
                self.nested(&set, &tree, data)
            }
        };
        if let Some(c) = self.shared.include_counts.get_mut(name) {
            *c -= 1;
        }
        r.map_err(|e| FuncError(e.to_string()))
    }

    fn parse_and_execute(
        &mut self,
        name: &str,
        text: &str,
        data: &Value,
    ) -> Result<Vec<u8>, FuncError> {
        self.tpl(name, text, data).map_err(|e| match e {
            TplError::Parse(s) | TplError::Exec(s) => FuncError(s),
        })
    }

    fn tpl(&mut self, name: &str, text: &str, data: &Value) -> Result<Vec<u8>, TplError> {
        let mut inner: SetInner = (**self.set).clone();
        let tree = inner
            .parse_into(name, text)
            .map_err(|e| TplError::Parse(e.to_string()))?;
        let set = Arc::new(inner);
        let mut sub = Ctx {
            set: &set,
            name: &tree.name,
            depth: self.depth,
            shared: &mut *self.shared,
        };
        sub.nested(&set, &tree, data)
            .map_err(|e| TplError::Exec(e.to_string()))
    }

    fn template_name(&self) -> &str {
        self.name
    }
}
