//! Environment overrides: a value set at a key path of the TOML table.

/// Sets `keys` (a path of table keys and list indices) in `table` to
/// `value`, making the tables and lists on the way.
pub(crate) fn set(
    table: &mut toml::Table,
    keys: &[String],
    value: toml::Value,
) -> Result<(), String> {
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err("an empty key (a doubled or trailing `__`)".into());
    }
    let mut current = Slot::Table(table);
    for (depth, key) in keys.iter().enumerate() {
        let walked = keys[..=depth].join(".");
        let last = depth + 1 == keys.len();
        // What to make when the key is missing: a list when an index follows.
        let next_is_index = keys
            .get(depth + 1)
            .is_some_and(|next| next.parse::<usize>().is_ok());
        let empty = || {
            if next_is_index {
                toml::Value::Array(Vec::new())
            } else {
                toml::Value::Table(toml::Table::new())
            }
        };
        let entry: &mut toml::Value = match current {
            Slot::Table(table) => {
                if last {
                    table.insert(key.clone(), value);
                    return Ok(());
                }
                table.entry(key.clone()).or_insert_with(empty)
            }
            Slot::List(items) => {
                let index: usize = key
                    .parse()
                    .map_err(|_| format!("`{walked}`: a list needs an index, not `{key}`"))?;
                if index > items.len() {
                    return Err(format!("`{walked}`: the list has {} items", items.len()));
                }
                if last {
                    match items.get_mut(index) {
                        Some(item) => *item = value,
                        None => items.push(value),
                    }
                    return Ok(());
                }
                if index == items.len() {
                    items.push(empty());
                }
                &mut items[index]
            }
        };
        current = match entry {
            toml::Value::Table(table) => Slot::Table(table),
            toml::Value::Array(items) => Slot::List(items),
            _ => return Err(format!("`{walked}` holds a value, not a table or a list")),
        };
    }
    Ok(())
}

enum Slot<'a> {
    Table(&'a mut toml::Table),
    List(&'a mut Vec<toml::Value>),
}
