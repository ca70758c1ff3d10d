//! The parser of the canonical text form (`display.rs` prints it): `parse(&g.to_string())`
//! gives back `g` up to renumbering (`Graph::canonical`). It reads what the printer writes:
//!
//! ```text
//! graph NAME {
//!   symbol ctx
//!   fusion mlp scopes "mlp" label "mlp" "fuse each MLP into one kernel"
//!   weight @0 = affine4g32f16[32, 64] "gate"
//!   state $0 = f32[2, ctx, 8] "l0.k_cache"
//!   input %0: f32[64]  ; r
//!   kernel k0 matvec {
//!     %1: f32[32, 64] = dequant @0  #l0.mlp
//!     %2: f32[32] = matvec %1, %0  #l0.mlp  ; gate
//!   }
//!   output gate = %2
//! }
//! ```
//!
//! Every instruction result carries its type (needed by `const`, checked against inference
//! everywhere else); `#scope` is the builder scope; the trailing `; text` names the result.
//! Value names after `%` may be any word (file tests write `%x`); lines that start with `;`
//! are comments. Errors name the line and column.

use crate::exec::SymbolKind;
use crate::graph::{Graph, GraphError};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::spec::Operand;
use crate::{DType, Dim, GroupId, StateId, SymId, TensorType, ValueId, WeightFormat, WeightId};
use std::collections::HashMap;
use thiserror::Error;

/// A parse failure at a 1-based line and column.
#[derive(Debug, Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}, column {column}: {msg}")]
    At {
        line: usize,
        column: usize,
        msg: String,
    },
    /// The text parsed but does not describe a valid graph (e.g. a non-contiguous kernel).
    #[error("the parsed graph is invalid: {0}")]
    Invalid(GraphError),
}

/// Parses the text form of one graph.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let mut p = Parser {
        g: Graph::default(),
        values: HashMap::new(),
        groups: HashMap::new(),
        kernel: None,
        closed: false,
    };
    let mut started = false;
    for (n, raw) in text.lines().enumerate() {
        let mut c = Cursor {
            line: n + 1,
            text: raw,
            pos: 0,
        };
        c.skip_ws();
        if c.at_end() || c.peek() == Some(';') {
            continue;
        }
        if !started {
            c.keyword("graph")?;
            c.skip_ws();
            let rest = c.rest().trim_end();
            let Some(name) = rest.strip_suffix('{') else {
                return Err(c.err("expected `graph NAME {`"));
            };
            p.g.name = name.trim_end().to_string();
            started = true;
            continue;
        }
        if p.closed {
            return Err(c.err("text after the closing `}` of the graph"));
        }
        p.line(&mut c)?;
    }
    if !started {
        return Err(ParseError::At {
            line: 1,
            column: 1,
            msg: "expected `graph NAME {`".into(),
        });
    }
    if !p.closed {
        return Err(ParseError::At {
            line: text.lines().count().max(1),
            column: 1,
            msg: "missing the closing `}` of the graph".into(),
        });
    }
    p.g.current_scope = None;
    p.g.validate().map_err(ParseError::Invalid)?;
    Ok(p.g)
}

struct Parser {
    g: Graph,
    /// Printed value name (`0`, `x`) -> id.
    values: HashMap<String, ValueId>,
    /// Printed kernel id (`k3`) -> group.
    groups: HashMap<String, GroupId>,
    /// The kernel block we are in.
    kernel: Option<GroupId>,
    closed: bool,
}

impl Parser {
    fn line(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
        if c.peek() == Some('}') {
            c.pos += 1;
            c.expect_end()?;
            match self.kernel.take() {
                Some(_) => {}
                None => self.closed = true,
            }
            return Ok(());
        }
        if c.peek() == Some('%') {
            return self.inst(c);
        }
        let start = c.pos;
        let word = c.word();
        match word {
            "symbol" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let at = c.pos;
                let name = c.word();
                let kind = [SymbolKind::Ctx, SymbolKind::Pos]
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| c.err_at(at, format!("unknown symbol `{name}`")))?;
                if p.g.symbol(kind).is_some() {
                    return Err(c.err_at(at, format!("symbol `{name}` declared twice")));
                }
                p.g.add_symbol(kind);
                c.expect_end()
            }),
            "fusion" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let at = c.pos;
                let name = c.word().to_string();
                if name.is_empty() {
                    return Err(c.err_at(at, "expected a fusion name"));
                }
                if p.g.fusions.iter().any(|z| z.name == name) {
                    return Err(c.err_at(at, format!("fusion `{name}` declared twice")));
                }
                c.skip_ws();
                c.keyword("scopes")?;
                c.skip_ws();
                let suffix = c.string()?;
                c.skip_ws();
                c.keyword("label")?;
                c.skip_ws();
                let label = c.string()?;
                c.skip_ws();
                let describe = c.string()?;
                c.expect_end()?;
                p.g.fusions.push(crate::ScopeFusion {
                    name,
                    suffix,
                    label,
                    describe,
                });
                Ok(())
            }),
            "weight" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let at = c.pos;
                c.eat('@')?;
                let id = c.number()?;
                if id != p.g.weights.len() as u64 {
                    return Err(c.err_at(
                        at,
                        format!(
                            "expected weight @{} (weights are numbered in order)",
                            p.g.weights.len()
                        ),
                    ));
                }
                c.punct('=')?;
                c.skip_ws();
                let format = c.format()?;
                let dims = c.list(|c| c.number())?;
                c.skip_ws();
                let source = c.string()?;
                c.expect_end()?;
                p.g.add_weight(source, format, &dims);
                Ok(())
            }),
            "state" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let at = c.pos;
                c.eat('$')?;
                let id = c.number()?;
                if id != p.g.states.len() as u64 {
                    return Err(c.err_at(
                        at,
                        format!(
                            "expected state ${} (states are numbered in order)",
                            p.g.states.len()
                        ),
                    ));
                }
                c.punct('=')?;
                c.skip_ws();
                let ty = c.ty(&p.g)?;
                c.skip_ws();
                let name = c.string()?;
                c.expect_end()?;
                p.g.add_state(name, ty);
                Ok(())
            }),
            "input" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let (at, name) = c.value_name()?;
                c.punct(':')?;
                c.skip_ws();
                let ty = c.ty(&p.g)?;
                let comment = c.comment()?;
                let v = p.g.add_input(ty, "");
                p.g.values[v.index()].name = comment;
                p.define(c, at, name, v)
            }),
            "output" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let rest = c.rest();
                let Some(eq) = rest.find(" = ") else {
                    return Err(c.err("expected `output NAME = %v`"));
                };
                let name = rest[..eq].trim().to_string();
                if name.is_empty() {
                    return Err(c.err("an output needs a name"));
                }
                if p.g.output(&name).is_some() {
                    return Err(c.err(format!("output `{name}` appears twice")));
                }
                c.pos += eq + 3;
                c.skip_ws();
                let v = p.use_value(c)?;
                c.expect_end()?;
                p.g.add_output(name, v);
                Ok(())
            }),
            "kernel" => self.no_kernel(c, start, |p, c| {
                c.skip_ws();
                let at = c.pos;
                let id = c.word().to_string();
                if !id.starts_with('k') || id.len() < 2 {
                    return Err(c.err_at(at, "expected a kernel id `kN`"));
                }
                c.skip_ws();
                let rest = c.rest().trim_end();
                let Some(label) = rest.strip_suffix('{') else {
                    return Err(c.err("expected `kernel kN LABEL {`"));
                };
                let label = label.trim();
                if label.is_empty() {
                    return Err(c.err("a kernel needs a label"));
                }
                if p.groups.contains_key(&id) {
                    return Err(c.err_at(at, format!("kernel {id} appears twice")));
                }
                let grp = p.g.add_group(label);
                p.groups.insert(id, grp);
                p.kernel = Some(grp);
                Ok(())
            }),
            // An instruction without results (`state_write $0, %3`).
            _ if !word.is_empty() => {
                c.pos = start;
                self.inst(c)
            }
            _ => Err(c.err_at(start, "expected a declaration, an instruction or `}`")),
        }
    }

    /// Runs a header/footer line parser, refusing it inside a kernel block.
    fn no_kernel(
        &mut self,
        c: &mut Cursor<'_>,
        start: usize,
        f: impl FnOnce(&mut Parser, &mut Cursor<'_>) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        if self.kernel.is_some() {
            return Err(c.err_at(start, "only instructions may appear inside a kernel"));
        }
        f(self, c)
    }

    fn define(
        &mut self,
        c: &Cursor<'_>,
        at: usize,
        name: String,
        v: ValueId,
    ) -> Result<(), ParseError> {
        if self.values.insert(name.clone(), v).is_some() {
            return Err(c.err_at(at, format!("%{name} is defined twice")));
        }
        Ok(())
    }

    fn use_value(&self, c: &mut Cursor<'_>) -> Result<ValueId, ParseError> {
        let (at, name) = c.value_name()?;
        self.values
            .get(&name)
            .copied()
            .ok_or_else(|| c.err_at(at, format!("%{name} is not defined")))
    }

    /// `[%r: TYPE =] mnemonic[{attrs}] [operands] [#scope] [; name]`
    fn inst(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
        let mut result = None;
        if c.peek() == Some('%') {
            let (at, name) = c.value_name()?;
            c.punct(':')?;
            c.skip_ws();
            let ty = c.ty(&self.g)?;
            c.punct('=')?;
            result = Some((at, name, ty));
        }
        c.skip_ws();
        let op_at = c.pos;
        let mnemonic = c.word().to_string();
        let attrs = if c.peek() == Some('{') {
            Some(c.braced()?)
        } else {
            None
        };
        let mut named: Vec<Operand> = Vec::new();
        let mut inputs: Vec<ValueId> = Vec::new();
        c.skip_ws();
        let mut first = true;
        while matches!(c.peek(), Some('%' | '@' | '$' | ',')) {
            if !first {
                c.punct(',')?;
                c.skip_ws();
            }
            first = false;
            let at = c.pos;
            match c.peek() {
                Some('@') => {
                    c.pos += 1;
                    let n = c.number()?;
                    if n >= self.g.weights.len() as u64 {
                        return Err(c.err_at(at, format!("weight @{n} is not declared")));
                    }
                    named.push(Operand::Weight(WeightId(n as u32)));
                }
                Some('$') => {
                    c.pos += 1;
                    let n = c.number()?;
                    if n >= self.g.states.len() as u64 {
                        return Err(c.err_at(at, format!("state ${n} is not declared")));
                    }
                    named.push(Operand::State(StateId(n as u32)));
                }
                Some('%') => inputs.push(self.use_value(c)?),
                _ => return Err(c.err("expected an operand")),
            }
            c.skip_ws();
        }
        let scope = if c.peek() == Some('#') {
            c.pos += 1;
            let at = c.pos;
            let s = c.until_ws();
            if s.is_empty() {
                return Err(c.err_at(at, "expected a scope name after `#`"));
            }
            Some(s.to_string())
        } else {
            None
        };
        let comment = c.comment()?;
        let op = build_op(&mnemonic, attrs.as_deref(), &named, &self.g)
            .map_err(|msg| c.err_at(op_at, msg))?;
        if (op.spec().operands)(&op).as_slice() != named.as_slice() {
            return Err(c.err_at(
                op_at,
                format!("{mnemonic}: weight/state operands do not match the op"),
            ));
        }
        self.g.set_scope(scope.as_deref());
        let declared = result.as_ref().map(|(_, _, ty)| ty.clone());
        let outs = self
            .g
            .push(op, &inputs, declared.clone())
            .map_err(|e| c.err_at(op_at, e.to_string()))?;
        self.g.current_scope = None;
        if let Some(inst) = self.g.insts.last_mut() {
            inst.group = self.kernel;
        }
        match (result, outs.first()) {
            (Some((at, name, ty)), Some(&v)) => {
                if *self.g.ty(v) != ty {
                    let mut want = String::new();
                    let _ = crate::shape::fmt_type(self.g.ty(v), &mut want, &|s| {
                        self.g.symbols[s.index()].name().to_string()
                    });
                    return Err(
                        c.err_at(at, format!("{mnemonic} gives {want}, not the written type"))
                    );
                }
                self.g.values[v.index()].name = comment;
                self.define(c, at, name, v)
            }
            (None, None) => Ok(()),
            (Some((at, ..)), None) => Err(c.err_at(at, format!("{mnemonic} has no result"))),
            (None, Some(_)) => Err(c.err_at(
                op_at,
                format!("{mnemonic} has a result: write `%v: TYPE = {mnemonic} ...`"),
            )),
        }
    }
}

/// The op called `mnemonic` with its attribute text and weight/state operands.
fn build_op(
    mnemonic: &str,
    attrs: Option<&str>,
    named: &[Operand],
    g: &Graph,
) -> Result<Op, String> {
    let a = Attrs::new(mnemonic, attrs)?;
    let weight = || match named.first() {
        Some(Operand::Weight(w)) => Ok(*w),
        _ => Err(format!("{mnemonic} needs a weight operand `@n`")),
    };
    let state = |i: usize| match named.get(i) {
        Some(Operand::State(s)) => Ok(*s),
        _ => Err(format!("{mnemonic} needs a state operand `$n`")),
    };
    let unary = |op| Op::Unary { op };
    let binary = |op| Op::Binary { op };
    let reduce = |op| -> Result<Op, String> {
        Ok(Op::Reduce {
            op,
            axis: a.get("axis")?,
        })
    };
    let op = match mnemonic {
        "const" => {
            let text = a.positional()?;
            let values = match text.strip_prefix('[') {
                Some(list) => list
                    .strip_suffix(']')
                    .ok_or("const list needs a closing `]`")?
                    .split(',')
                    .map(|x| parse_num::<f32>("const value", x))
                    .collect::<Result<Vec<f32>, String>>()?,
                None => vec![parse_num::<f32>("const value", text)?],
            };
            Op::Const { values }
        }
        "symbol" => {
            let name = a.positional()?;
            let sym = g
                .symbols
                .iter()
                .position(|s| s.name() == name)
                .ok_or_else(|| format!("symbol `{name}` is not declared"))?;
            Op::Symbol {
                sym: SymId::from_index(sym),
            }
        }
        "dequant" => Op::Dequant { weight: weight()? },
        "matvec" => Op::MatVec,
        "neg" => unary(UnaryOp::Neg),
        "exp" => unary(UnaryOp::Exp),
        "sqrt" => unary(UnaryOp::Sqrt),
        "rsqrt" => unary(UnaryOp::Rsqrt),
        "recip" => unary(UnaryOp::Recip),
        "square" => unary(UnaryOp::Square),
        "silu" => unary(UnaryOp::Silu),
        "gelu" => unary(UnaryOp::Gelu),
        "add" => binary(BinaryOp::Add),
        "sub" => binary(BinaryOp::Sub),
        "mul" => binary(BinaryOp::Mul),
        "div" => binary(BinaryOp::Div),
        "max" => binary(BinaryOp::Max),
        "min" => binary(BinaryOp::Min),
        "eq" => binary(BinaryOp::Eq),
        "select" => Op::Select,
        "reduce_sum" => reduce(ReduceOp::Sum)?,
        "reduce_mean" => reduce(ReduceOp::Mean)?,
        "reduce_max" => reduce(ReduceOp::Max)?,
        "softmax" => Op::Softmax,
        "rms_norm" => Op::RmsNorm { eps: a.get("eps")? },
        "rope" => Op::Rope {
            rot_dims: a.get("rot")?,
            theta: a.get("theta")?,
        },
        "argmax" => Op::Argmax,
        "gather" => Op::Gather {
            axis: a.get("axis")?,
        },
        "reshape" => {
            let text = a.positional()?;
            let list = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .ok_or("reshape needs `{[d0, d1, ..]}`")?;
            let dims = if list.trim().is_empty() {
                vec![]
            } else {
                list.split(',')
                    .map(|d| parse_num::<u64>("reshape dim", d))
                    .collect::<Result<Vec<u64>, String>>()?
            };
            Op::Reshape { dims }
        }
        "slice" => Op::Slice {
            axis: a.get("axis")?,
            start: a.get("start")?,
            len: a.get("len")?,
        },
        "concat" => Op::Concat {
            axis: a.get("axis")?,
        },
        "cast" => {
            let to = a.positional()?;
            Op::Cast {
                to: DType::parse(to).ok_or_else(|| format!("unknown dtype `{to}`"))?,
            }
        }
        "conv_step" => Op::ConvStep {
            groups: a.get("groups")?,
        },
        "conv" => Op::Conv {
            groups: a.get("groups")?,
        },
        "transpose" => Op::Transpose,
        "state_read" => Op::StateRead { state: state(0)? },
        "state_write" => Op::StateWrite { state: state(0)? },
        "cache_append" => Op::CacheAppend { state: state(0)? },
        "attention" => Op::Attention {
            k_cache: state(0)?,
            v_cache: state(1)?,
            scale: a.get("scale")?,
        },
        "" => return Err("expected an op name".into()),
        other => return Err(format!("unknown op `{other}`")),
    };
    a.all_used(&op)?;
    Ok(op)
}

fn parse_num<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String> {
    let t = text.trim();
    t.parse()
        .map_err(|_| format!("{what} `{t}` is not a valid number"))
}

/// The attributes in `{...}`: `key=value` pairs, or one positional value.
struct Attrs<'a> {
    op: &'a str,
    text: Option<&'a str>,
    pairs: Vec<(&'a str, &'a str)>,
    /// Comma-separated parts given (a `[..]` list is one).
    given: usize,
    used: std::cell::Cell<usize>,
}

impl<'a> Attrs<'a> {
    fn new(op: &'a str, text: Option<&'a str>) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut given = 0;
        if let Some(t) = text {
            if t.trim_start().starts_with('[') {
                given = 1;
            } else {
                for part in t.split(',') {
                    given += 1;
                    if let Some((k, v)) = part.split_once('=') {
                        pairs.push((k.trim(), v.trim()));
                    }
                }
            }
        }
        Ok(Attrs {
            op,
            text,
            pairs,
            given,
            used: std::cell::Cell::new(0),
        })
    }

    fn get<T: std::str::FromStr>(&self, key: &str) -> Result<T, String> {
        let v = self
            .pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("{} needs the attribute `{key}=`", self.op))?;
        self.used.set(self.used.get() + 1);
        parse_num(&format!("{} attribute `{key}`", self.op), v)
    }

    fn positional(&self) -> Result<&'a str, String> {
        self.used.set(self.used.get() + 1);
        self.text
            .map(str::trim)
            .ok_or_else(|| format!("{} needs `{{value}}`", self.op))
    }

    /// Refuses attributes the op does not have (a typo must not be ignored).
    fn all_used(&self, op: &Op) -> Result<(), String> {
        if self.given != self.used.get() {
            let mut want = String::new();
            let _ = (op.spec().attrs)(op, &mut want, &|s| format!("{s}"));
            return Err(format!(
                "{}: unexpected attributes `{{{}}}` (the op takes `{want}`)",
                self.op,
                self.text.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

/// A position in one line.
struct Cursor<'a> {
    line: usize,
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, msg: impl Into<String>) -> ParseError {
        self.err_at(self.pos, msg)
    }

    fn err_at(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::At {
            line: self.line,
            column: self.text[..pos.min(self.text.len())].chars().count() + 1,
            msg: msg.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, ch: char) -> Result<(), ParseError> {
        if self.peek() == Some(ch) {
            self.pos += ch.len_utf8();
            Ok(())
        } else {
            Err(self.err(format!("expected `{ch}`")))
        }
    }

    /// `ch` after optional spaces.
    fn punct(&mut self, ch: char) -> Result<(), ParseError> {
        self.skip_ws();
        self.eat(ch)
    }

    fn keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        let at = self.pos;
        if self.word() == kw {
            Ok(())
        } else {
            Err(self.err_at(at, format!("expected `{kw}`")))
        }
    }

    /// A run of `[A-Za-z0-9_.]` (possibly empty).
    fn word(&mut self) -> &'a str {
        let r = self.rest();
        let n = r
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
            .unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }

    fn until_ws(&mut self) -> &'a str {
        let r = self.rest();
        let n = r.find(char::is_whitespace).unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }

    fn number(&mut self) -> Result<u64, ParseError> {
        let at = self.pos;
        let r = self.rest();
        let n = r.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(r.len());
        self.pos += n;
        r[..n]
            .parse()
            .map_err(|_| self.err_at(at, "expected a number"))
    }

    /// `%name`: the position of the `%` and the name.
    fn value_name(&mut self) -> Result<(usize, String), ParseError> {
        let at = self.pos;
        self.eat('%')?;
        let name = self.word();
        if name.is_empty() {
            return Err(self.err_at(at, "expected a value `%name`"));
        }
        Ok((at, name.to_string()))
    }

    /// `[a, b, ..]` of items.
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.eat('[')?;
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            self.skip_ws();
            out.push(item(self)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    /// `dtype[dims]`, symbols by name.
    fn ty(&mut self, g: &Graph) -> Result<TensorType, ParseError> {
        let at = self.pos;
        let name = self.word();
        let dtype =
            DType::parse(name).ok_or_else(|| self.err_at(at, format!("unknown dtype `{name}`")))?;
        let dims = self.list(|c| {
            let at = c.pos;
            if c.peek().is_some_and(|ch| ch.is_ascii_digit()) {
                return Ok(Dim::Const(c.number()?));
            }
            let name = c.word();
            g.symbols
                .iter()
                .position(|s| s.name() == name)
                .map(|i| Dim::Sym(SymId::from_index(i)))
                .ok_or_else(|| c.err_at(at, format!("`{name}` is not a declared symbol")))
        })?;
        Ok(TensorType {
            dtype,
            dims: dims.into_iter().collect(),
        })
    }

    /// A weight format tag: `affine4g32f16`, `mxfp4g32`, `f16`.
    fn format(&mut self) -> Result<WeightFormat, ParseError> {
        let at = self.pos;
        let tag = self.word();
        let bad = || self.err_at(at, format!("unknown weight format `{tag}`"));
        if let Some(d) = DType::parse(tag) {
            return Ok(WeightFormat::Float { dtype: d });
        }
        if let Some(g) = tag.strip_prefix("mxfp4g") {
            return Ok(WeightFormat::Mxfp4 {
                group_size: g.parse().map_err(|_| bad())?,
            });
        }
        let rest = tag.strip_prefix("affine").ok_or_else(bad)?;
        let (bits, rest) = rest.split_once('g').ok_or_else(bad)?;
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        Ok(WeightFormat::Affine {
            bits: bits.parse().map_err(|_| bad())?,
            group_size: rest[..digits].parse().map_err(|_| bad())?,
            scale_dtype: DType::parse(&rest[digits..]).ok_or_else(bad)?,
        })
    }

    /// The text inside `{...}` (no nesting; `[..]` may appear inside).
    fn braced(&mut self) -> Result<String, ParseError> {
        let at = self.pos;
        self.eat('{')?;
        let r = self.rest();
        let end = r
            .find('}')
            .ok_or_else(|| self.err_at(at, "attributes need a closing `}`"))?;
        self.pos += end + 1;
        Ok(r[..end].to_string())
    }

    /// A string as Rust's `{:?}` writes it.
    fn string(&mut self) -> Result<String, ParseError> {
        let at = self.pos;
        self.eat('"')?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, ch)) = chars.next() {
            match ch {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        '\\' | '"' | '\'' => out.push(e),
                        'u' => {
                            let hex: String = chars
                                .by_ref()
                                .map(|(_, c)| c)
                                .skip_while(|c| *c == '{')
                                .take_while(|c| *c != '}')
                                .collect();
                            let ch = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    self.err_at(at, format!("bad escape `\\u{{{hex}}}`"))
                                })?;
                            out.push(ch);
                        }
                        other => {
                            return Err(self.err_at(at, format!("unknown escape `\\{other}`")));
                        }
                    }
                }
                ch => out.push(ch),
            }
        }
        Err(self.err_at(at, "unterminated string"))
    }

    /// An optional `; text` to the end of the line; anything else left is an error.
    fn comment(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_ws();
        if self.peek() == Some(';') {
            let text = self.rest()[1..].trim().to_string();
            self.pos = self.text.len();
            return Ok((!text.is_empty()).then_some(text));
        }
        self.expect_end()?;
        Ok(None)
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err(format!("unexpected `{}`", self.rest())))
        }
    }
}

impl Graph {
    /// The graph as its text form describes it: values and kernels renumbered in program
    /// order, empty kernels and unused scopes dropped, scopes numbered by first use. Two
    /// graphs are equal up to renumbering when their `canonical()` forms are equal, and
    /// `parse(&g.to_string()) == g.canonical()`.
    pub fn canonical(&self) -> Graph {
        let mut g = self.compacted();
        let mut map: Vec<Option<u32>> = vec![None; g.scopes.len()];
        let mut scopes = Vec::new();
        for inst in &mut g.insts {
            if let Some(s) = inst.scope {
                let new = *map[s as usize].get_or_insert_with(|| {
                    scopes.push(self.scopes[s as usize].clone());
                    (scopes.len() - 1) as u32
                });
                inst.scope = Some(new);
            }
        }
        g.scopes = scopes;
        g
    }
}
