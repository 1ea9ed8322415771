//! Which items of a list a page request gets, and where the next page starts.

use std::ops::Range;

use crate::cursor::PageCursor;

/// A page of a list: the items to serve and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) range: Range<usize>,
    pub(crate) next: Option<PageCursor>,
}

/// Why a cursor does not fit the list it was presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The list changed since the cursor was issued.
    Changed,
    /// The cursor points past the list (only a forged cursor could).
    OutOfRange,
}

impl PageCursor {
    /// The first page of the inner service's first page.
    pub(crate) fn first() -> Self {
        Self {
            inner: None,
            offset: 0,
            digest: None,
        }
    }
}

/// The page `start` asks for in an inner page of `items` items whose
/// digest is `digest()` and whose own next cursor is `inner_next`.
///
/// `Ok(None)`: the list is served as it is (one page, nothing to check).
/// The digest is computed only when a cursor carries one or a cursor into
/// this list will be issued.
pub(crate) fn plan(
    start: &PageCursor,
    items: usize,
    digest: impl FnOnce() -> u64,
    inner_next: Option<&str>,
    page_size: usize,
) -> Result<Option<Plan>, Mismatch> {
    let offset = usize::try_from(start.offset).unwrap_or(usize::MAX);
    let sliced = items.saturating_sub(offset) > page_size;
    if offset == 0 && start.digest.is_none() && !sliced && inner_next.is_none() {
        return Ok(None);
    }
    let digest = (start.digest.is_some() || sliced).then(digest);
    if start.digest.is_some() && start.digest != digest {
        return Err(Mismatch::Changed);
    }
    // Cursors into a list are only issued before its end.
    if offset > items || (offset == items && offset > 0) {
        return Err(Mismatch::OutOfRange);
    }
    let end = offset.saturating_add(page_size).min(items);
    let next = if end < items {
        Some(PageCursor {
            inner: start.inner.clone(),
            offset: end as u64,
            digest,
        })
    } else {
        inner_next.map(|inner| PageCursor {
            inner: Some(inner.to_owned()),
            offset: 0,
            digest: None,
        })
    };
    Ok(Some(Plan {
        range: offset..end,
        next,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every item index a reader collects from pages of `size` over `items`.
    fn read_all(items: usize, size: usize, digest: u64) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut cursor = PageCursor::first();
        loop {
            let Some(plan) = plan(&cursor, items, || digest, None, size).unwrap() else {
                return (0..items).collect();
            };
            seen.extend(plan.range);
            match plan.next {
                Some(next) => cursor = next,
                None => return seen,
            }
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_order() {
        for (items, size) in [(0, 10), (10, 10), (11, 10), (100_000, 1000), (7, 3)] {
            let seen = read_all(items, size, 9);
            assert_eq!(seen, (0..items).collect::<Vec<_>>(), "{items} by {size}");
            assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), items);
        }
    }

    #[test]
    fn a_short_list_passes_whole_without_hashing() {
        let hashed = std::cell::Cell::new(false);
        let digest = || {
            hashed.set(true);
            1
        };
        assert_eq!(plan(&PageCursor::first(), 5, digest, None, 10), Ok(None));
        assert!(!hashed.get());
    }

    #[test]
    fn a_changed_list_refuses_its_old_cursors() {
        let first = plan(&PageCursor::first(), 30, || 1, None, 10)
            .unwrap()
            .unwrap();
        let next = first.next.unwrap();
        assert_eq!(next.digest, Some(1));
        assert_eq!(plan(&next, 30, || 2, None, 10), Err(Mismatch::Changed));
        assert_eq!(
            plan(&next, 31, || 1, None, 10).unwrap().unwrap().range,
            10..20
        );
    }

    #[test]
    fn cursors_past_the_end_are_refused() {
        let past = PageCursor {
            inner: None,
            offset: 40,
            digest: Some(1),
        };
        assert_eq!(plan(&past, 30, || 1, None, 10), Err(Mismatch::OutOfRange));
        let at_end = PageCursor { offset: 30, ..past };
        assert_eq!(plan(&at_end, 30, || 1, None, 10), Err(Mismatch::OutOfRange));
    }

    #[test]
    fn the_inner_services_own_pages_are_followed() {
        // One inner page of 15 items with a next cursor, paged by 10.
        let first = plan(&PageCursor::first(), 15, || 5, Some("up-2"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(first.range, 0..10);
        let second = plan(&first.next.unwrap(), 15, || 5, Some("up-2"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(second.range, 10..15);
        let into_next_inner = second.next.unwrap();
        assert_eq!(into_next_inner.inner.as_deref(), Some("up-2"));
        assert_eq!((into_next_inner.offset, into_next_inner.digest), (0, None));
        // A short inner page still wraps the inner cursor in ours.
        let short = plan(&PageCursor::first(), 3, || 5, Some("up-2"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(
            (short.range, short.next.unwrap().inner.as_deref()),
            (0..3, Some("up-2"))
        );
    }
}
