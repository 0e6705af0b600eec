//! The values a call sends: keys exactly as the server sent them, and exact counter values
//! encoded as whatever integer or numeric type the server asks for.

use crate::error::Result;
use bytes::BytesMut;
use rust_decimal::Decimal;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A key exactly as the server sent it (binary format), sent back verbatim: any key type works
/// (uuid, bigint, text, ...) without loadtest knowing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValue {
    ty: Type,
    raw: Vec<u8>,
}

impl KeyValue {
    /// The key as a person reads it (uuid, number or text; hex for anything else).
    pub fn display(&self) -> String {
        let parsed = match self.ty {
            Type::UUID => uuid::Uuid::from_slice(&self.raw)
                .map(|u| u.to_string())
                .ok(),
            Type::INT2 => i16::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT4 => i32::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT8 => i64::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::TEXT | Type::VARCHAR => String::from_utf8(self.raw.clone()).ok(),
            _ => None,
        };
        parsed.unwrap_or_else(|| hex::encode(&self.raw))
    }

    /// `n` keys of the same type as `existing` that are not among them, for calls that must be
    /// refused. Deterministic in `seed`.
    pub fn absent(existing: &[KeyValue], n: usize, seed: u64) -> Result<Vec<KeyValue>, String> {
        use rand::{Rng, SeedableRng};
        let Some(first) = existing.first() else {
            return Ok(Vec::new());
        };
        let taken: std::collections::HashSet<&KeyValue> = existing.iter().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xAB5E_4700);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let raw = match first.ty {
                Type::UUID => uuid::Builder::from_random_bytes(rng.random())
                    .into_uuid()
                    .as_bytes()
                    .to_vec(),
                Type::INT2 => (-rng.random_range(1..i16::MAX)).to_be_bytes().to_vec(),
                Type::INT4 => (-rng.random_range(1..i32::MAX)).to_be_bytes().to_vec(),
                Type::INT8 => (-rng.random_range(1..i64::MAX)).to_be_bytes().to_vec(),
                Type::TEXT | Type::VARCHAR => {
                    format!("absent-{:016x}", rng.random::<u64>()).into_bytes()
                }
                ref other => {
                    return Err(format!(
                        "absent_share needs a uuid, integer or text key, not {other}"
                    ));
                }
            };
            let k = KeyValue {
                ty: first.ty.clone(),
                raw,
            };
            if !taken.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

impl<'a> FromSql<'a> for KeyValue {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(KeyValue {
            ty: ty.clone(),
            raw: raw.to_vec(),
        })
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for KeyValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty != self.ty {
            return Err(format!("key of type {} sent where {} is expected", self.ty, ty).into());
        }
        out.extend_from_slice(&self.raw);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// An exact counter value, encoded as whatever integer or numeric type the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Decimal);

pub const EXACT_TYPES: [Type; 4] = [Type::INT2, Type::INT4, Type::INT8, Type::NUMERIC];

impl ToSql for Num {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let overflow = || format!("{} does not fit in {ty}", self.0);
        match *ty {
            Type::INT2 => i16::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT4 => i32::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT8 => i64::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            _ => self.0.to_sql(ty, out),
        }
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Num {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Num(match *ty {
            Type::INT2 => Decimal::from(i16::from_sql(ty, raw)?),
            Type::INT4 => Decimal::from(i32::from_sql(ty, raw)?),
            Type::INT8 => Decimal::from(i64::from_sql(ty, raw)?),
            _ => Decimal::from_sql(ty, raw)?,
        }))
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
}
