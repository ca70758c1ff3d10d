//! Static shapes. A dimension is a constant or a symbol bound when a session is created
//! (the KV-cache capacity `ctx`); every activation shape of a decode step is constant.

use crate::{DType, SymId};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    Const(u64),
    Sym(SymId),
}

impl Dim {
    pub fn as_const(self) -> Option<u64> {
        match self {
            Dim::Const(n) => Some(n),
            Dim::Sym(_) => None,
        }
    }
}

impl From<u64> for Dim {
    fn from(n: u64) -> Self {
        Dim::Const(n)
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Const(n as u64)
    }
}

pub type Dims = SmallVec<[Dim; 4]>;

/// The type of a tensor value or state: element type and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    pub dtype: DType,
    pub dims: Dims,
}

impl TensorType {
    pub fn new(dtype: DType, dims: impl IntoIterator<Item = impl Into<Dim>>) -> Self {
        TensorType {
            dtype,
            dims: dims.into_iter().map(Into::into).collect(),
        }
    }

    pub fn f32(dims: impl IntoIterator<Item = impl Into<Dim>>) -> Self {
        Self::new(DType::F32, dims)
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Constant dimensions, or `None` when a symbol appears.
    pub fn const_dims(&self) -> Option<SmallVec<[u64; 4]>> {
        self.dims.iter().map(|d| d.as_const()).collect()
    }

    /// Element count when every dimension is constant.
    pub fn numel(&self) -> Option<u64> {
        self.const_dims().map(|d| d.iter().product())
    }

    pub fn is_static(&self) -> bool {
        self.dims.iter().all(|d| matches!(d, Dim::Const(_)))
    }

    /// Byte size with the symbols bound by `bind`.
    pub fn bytes_with(&self, bind: impl Fn(SymId) -> u64) -> u64 {
        let n: u64 = self
            .dims
            .iter()
            .map(|d| match *d {
                Dim::Const(n) => n,
                Dim::Sym(s) => bind(s),
            })
            .product();
        n * self.dtype.size() as u64
    }

    /// Last dimension as a constant (most ops work along it).
    pub fn last(&self) -> Option<u64> {
        self.dims.last().and_then(|d| d.as_const())
    }
}

/// Formats a type; symbols are printed through `sym_name`.
pub(crate) fn fmt_type(
    ty: &TensorType,
    f: &mut dyn fmt::Write,
    sym_name: &dyn Fn(SymId) -> String,
) -> fmt::Result {
    write!(f, "{}[", ty.dtype)?;
    for (i, d) in ty.dims.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match d {
            Dim::Const(n) => write!(f, "{n}")?,
            Dim::Sym(s) => f.write_str(&sym_name(*s))?,
        }
    }
    f.write_str("]")
}
