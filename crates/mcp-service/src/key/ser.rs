//! Digesting typed params: a `serde::Serializer` that writes the canonical
//! encoding as `serde_json` would shape the value, with no JSON in between.

use std::fmt::{self, Write as _};

use serde::{
    Serialize,
    ser::{self, Impossible},
};

use super::{Canon, DigestError, ObjectSum, skipped};

impl ser::Error for DigestError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, DigestError>;

impl<'a> ser::Serializer for &'a mut Canon {
    type Ok = ();
    type Error = DigestError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Variant<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Variant<'a>;

    fn serialize_bool(self, value: bool) -> Result {
        self.bool(value);
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result {
        self.serialize_i64(value.into())
    }
    fn serialize_i16(self, value: i16) -> Result {
        self.serialize_i64(value.into())
    }
    fn serialize_i32(self, value: i32) -> Result {
        self.serialize_i64(value.into())
    }
    fn serialize_i64(self, value: i64) -> Result {
        self.i64(value);
        Ok(())
    }
    fn serialize_i128(self, value: i128) -> Result {
        // serde_json reads integers outside i64/u64 back as floats.
        match (i64::try_from(value), u64::try_from(value)) {
            (Ok(value), _) => self.i64(value),
            (_, Ok(value)) => self.u64(value),
            _ => self.f64(value as f64),
        }
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result {
        self.serialize_u64(value.into())
    }
    fn serialize_u16(self, value: u16) -> Result {
        self.serialize_u64(value.into())
    }
    fn serialize_u32(self, value: u32) -> Result {
        self.serialize_u64(value.into())
    }
    fn serialize_u64(self, value: u64) -> Result {
        self.u64(value);
        Ok(())
    }
    fn serialize_u128(self, value: u128) -> Result {
        match u64::try_from(value) {
            Ok(value) => self.u64(value),
            Err(_) => self.f64(value as f64),
        }
        Ok(())
    }
    fn serialize_f32(self, value: f32) -> Result {
        // serde_json writes an f32 in its shortest form, which reads back as
        // that decimal's f64, not as the widened f32.
        if !value.is_finite() {
            self.null();
            return Ok(());
        }
        let mut text = StackText::default();
        write!(text, "{value}").map_err(|_| DigestError("f32 too long to format".into()))?;
        let widened = text.as_str().parse::<f64>().unwrap_or(f64::from(value));
        self.f64(widened);
        Ok(())
    }
    fn serialize_f64(self, value: f64) -> Result {
        self.f64(value);
        Ok(())
    }
    fn serialize_char(self, value: char) -> Result {
        self.str(value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result {
        self.str(value);
        Ok(())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result {
        self.array_start();
        value.iter().for_each(|byte| self.u64(u64::from(*byte)));
        self.array_end();
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.null();
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.null();
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.null();
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        let mut member = Canon::new();
        member.str(variant);
        value.serialize(&mut member)?;
        let mut object = ObjectSum::default();
        object.add(&mut member);
        object.write(self);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        self.array_start();
        Ok(Array(self))
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Variant<'a>> {
        let mut variant = Variant::open(self, variant);
        variant.member.array_start();
        Ok(variant)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>> {
        Ok(Object::new(self))
    }
    fn serialize_struct(self, _: &'static str, _len: usize) -> Result<Object<'a>> {
        Ok(Object::new(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Variant<'a>> {
        Ok(Variant::open(self, variant))
    }
}

/// An array being written: elements go straight into the parent's stream.
pub(crate) struct Array<'a>(&'a mut Canon);

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.0)
    }

    fn close(self) -> Result {
        self.0.array_end();
        Ok(())
    }
}

macro_rules! array_impls {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = DigestError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.close()
            }
        }
    )*};
}

array_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// An object being written: each member is hashed on its own and summed.
/// One member encoder is reused for all members, so nothing large moves.
pub(crate) struct Object<'a> {
    out: &'a mut Canon,
    sum: ObjectSum,
    root: bool,
    member: Canon,
    /// Whether the key `serialize_key` wrote is the skipped `_meta`.
    skip_value: bool,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Canon) -> Self {
        let root = out.take_root();
        Self {
            out,
            sum: ObjectSum::default(),
            root,
            member: Canon::new(),
            skip_value: false,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        if skipped(self.root, key) {
            return Ok(());
        }
        self.member.str(key);
        value.serialize(&mut self.member)?;
        self.sum.add(&mut self.member);
        Ok(())
    }

    fn close(self) -> Result {
        self.sum.write(self.out);
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = DigestError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.skip_value = key.serialize(KeySerializer {
            out: &mut self.member,
            root: self.root,
        })?;
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        if self.skip_value {
            // The skipped key was written; drop it with the value unwritten.
            self.member.finish();
            self.skip_value = false;
            return Ok(());
        }
        value.serialize(&mut self.member)?;
        self.sum.add(&mut self.member);
        Ok(())
    }

    fn end(self) -> Result {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = DigestError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }

    fn end(self) -> Result {
        self.close()
    }
}

/// An enum variant with content, written as `{variant: content}`: the
/// content goes into the single member, which is summed when it ends.
pub(crate) struct Variant<'a> {
    out: &'a mut Canon,
    member: Canon,
    fields: ObjectSum,
}

impl<'a> Variant<'a> {
    fn open(out: &'a mut Canon, variant: &'static str) -> Self {
        let mut member = Canon::new();
        member.str(variant);
        Self {
            out,
            member,
            fields: ObjectSum::default(),
        }
    }

    fn close(mut self) -> Result {
        let mut object = ObjectSum::default();
        object.add(&mut self.member);
        object.write(self.out);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Variant<'_> {
    type Ok = ();
    type Error = DigestError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut self.member)
    }

    fn end(mut self) -> Result {
        self.member.array_end();
        self.close()
    }
}

impl ser::SerializeStructVariant for Variant<'_> {
    type Ok = ();
    type Error = DigestError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        let mut field = Canon::new();
        field.str(key);
        value.serialize(&mut field)?;
        self.fields.add(&mut field);
        Ok(())
    }

    fn end(mut self) -> Result {
        self.fields.write(&mut self.member);
        self.close()
    }
}

/// Writes a map key as a JSON object key, as `serde_json` would: strings as
/// they are, integers and booleans as their text. Returns whether the member
/// is the root's `_meta`, which is skipped.
struct KeySerializer<'a> {
    out: &'a mut Canon,
    root: bool,
}

impl KeySerializer<'_> {
    fn key(self, key: &str) -> Result<bool> {
        self.out.str(key);
        Ok(skipped(self.root, key))
    }

    fn display(self, key: impl fmt::Display) -> Result<bool> {
        let mut text = StackText::default();
        write!(text, "{key}").map_err(|_| DigestError("map key too long".into()))?;
        self.key(text.as_str())
    }
}

fn key_error<T>(kind: &str) -> Result<T> {
    Err(DigestError(format!("{kind} cannot be a JSON object key")))
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = bool;
    type Error = DigestError;
    type SerializeSeq = Impossible<bool, DigestError>;
    type SerializeTuple = Impossible<bool, DigestError>;
    type SerializeTupleStruct = Impossible<bool, DigestError>;
    type SerializeTupleVariant = Impossible<bool, DigestError>;
    type SerializeMap = Impossible<bool, DigestError>;
    type SerializeStruct = Impossible<bool, DigestError>;
    type SerializeStructVariant = Impossible<bool, DigestError>;

    fn serialize_str(self, value: &str) -> Result<bool> {
        self.key(value)
    }
    fn serialize_char(self, value: char) -> Result<bool> {
        self.key(value.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bool(self, value: bool) -> Result<bool> {
        self.display(value)
    }
    fn serialize_i8(self, value: i8) -> Result<bool> {
        self.display(value)
    }
    fn serialize_i16(self, value: i16) -> Result<bool> {
        self.display(value)
    }
    fn serialize_i32(self, value: i32) -> Result<bool> {
        self.display(value)
    }
    fn serialize_i64(self, value: i64) -> Result<bool> {
        self.display(value)
    }
    fn serialize_i128(self, value: i128) -> Result<bool> {
        self.display(value)
    }
    fn serialize_u8(self, value: u8) -> Result<bool> {
        self.display(value)
    }
    fn serialize_u16(self, value: u16) -> Result<bool> {
        self.display(value)
    }
    fn serialize_u32(self, value: u32) -> Result<bool> {
        self.display(value)
    }
    fn serialize_u64(self, value: u64) -> Result<bool> {
        self.display(value)
    }
    fn serialize_u128(self, value: u128) -> Result<bool> {
        self.display(value)
    }
    fn serialize_f32(self, _: f32) -> Result<bool> {
        key_error("a float")
    }
    fn serialize_f64(self, _: f64) -> Result<bool> {
        key_error("a float")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<bool> {
        key_error("a byte string")
    }
    fn serialize_none(self) -> Result<bool> {
        key_error("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<bool> {
        key_error("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool> {
        key_error("a unit struct")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<bool> {
        self.key(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<bool> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool> {
        key_error("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        key_error("an array")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        key_error("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        key_error("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        key_error("an enum with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        key_error("an object")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        key_error("an object")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        key_error("an enum with data")
    }
}

/// A fixed buffer for formatting numbers without allocating.
struct StackText {
    buffer: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        Self {
            buffer: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.buffer[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        self.buffer
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
