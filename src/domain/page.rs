use uuid::Uuid;

use super::ParseError;

/// A forward page request: at most `first` items after the cursor `after`.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub const DEFAULT_SIZE: i32 = 20;
    pub const MAX_SIZE: i32 = 100;

    pub fn parse(first: Option<i32>, after: Option<Uuid>) -> Result<Self, ParseError> {
        let first = first.unwrap_or(Self::DEFAULT_SIZE);
        if !(1..=Self::MAX_SIZE).contains(&first) {
            return Err(ParseError::new(
                "first",
                format!("must be between 1 and {}", Self::MAX_SIZE),
            ));
        }
        Ok(Self {
            first: u64::try_from(first).unwrap_or(1),
            after,
        })
    }
}

/// One page of items in id order, and whether more follow.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched one row more than asked for.
    pub fn from_overfetch(mut items: Vec<T>, req: PageRequest) -> Self {
        let has_next = items.len() as u64 > req.first;
        items.truncate(usize::try_from(req.first).unwrap_or(usize::MAX));
        Self { items, has_next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
        }
    }
}
