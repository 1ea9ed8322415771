//! Digesting raw params: a `serde` visitor that writes the canonical encoding
//! while `serde_json` parses, borrowing strings and building no JSON value.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Canon, ObjectSum, skipped};

/// Parses one JSON value into `Canon`.
pub(super) struct Seed<'a>(pub(super) &'a mut Canon);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        self.0.bool(value);
        Ok(())
    }
    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.0.i64(value);
        Ok(())
    }
    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        self.0.u64(value);
        Ok(())
    }
    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        self.0.f64(value);
        Ok(())
    }
    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.0.str(value);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.null();
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.null();
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.array_start();
        while seq.next_element_seed(Seed(&mut *self.0))?.is_some() {}
        self.0.array_end();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let root = self.0.take_root();
        let mut object = ObjectSum::default();
        // One member encoder, reused: nothing large is built or moved per member.
        let mut member = Canon::new();
        loop {
            let Some(skip) = map.next_key_seed(Key {
                out: &mut member,
                root,
            })?
            else {
                break;
            };
            if skip {
                map.next_value::<IgnoredAny>()?;
                member.finish();
            } else {
                map.next_value_seed(Seed(&mut member))?;
                object.add(&mut member);
            }
        }
        object.write(self.0);
        Ok(())
    }
}

/// Parses one object key into a member's stream; yields whether it is skipped.
struct Key<'a> {
    out: &'a mut Canon,
    root: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        self.out.str(key);
        Ok(skipped(self.root, key))
    }
}
