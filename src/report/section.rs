//! The section model every rendering loops over: a run's report yields a
//! list of [`Section`]s — a title, then tables, text and lists — and the
//! Markdown summary and the HTML page each turn that list into their own
//! syntax. What a table shows (its columns, its rows, its empty-cell mark)
//! is decided once, here and in the modules that build sections, never in
//! a rendering.

/// What a cell shows when there is nothing to show: one mark for every
/// table of every rendering.
pub(crate) const EMPTY: &str = "—";

/// How a column lines up: text to the left, numbers to the right so that
/// their digits line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// How a row stands out: a verdict colours it in HTML (and a broken
/// guarantee is bold in Markdown), so the eye finds it in a long table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Pass,
    Fail,
    Unknown,
}

impl Mark {
    /// The word of the mark, as the HTML class names it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::Unknown => "unknown",
        }
    }

    /// The sign a marked cell carries, the same in Markdown and HTML: `✗`
    /// for a failure, `?` for a result not established; none for a pass,
    /// which needs no pointing at.
    pub(crate) fn sign(self) -> Option<&'static str> {
        match self {
            Mark::Pass => None,
            Mark::Fail => Some("✗"),
            Mark::Unknown => Some("?"),
        }
    }
}

impl From<super::model::Verdict> for Mark {
    fn from(v: super::model::Verdict) -> Self {
        match v {
            super::model::Verdict::Pass => Mark::Pass,
            super::model::Verdict::Fail => Mark::Fail,
            super::model::Verdict::Unknown => Mark::Unknown,
        }
    }
}

/// One row: its cells, left to right, and how it stands out (if at all).
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub cells: Vec<String>,
    pub mark: Option<Mark>,
    /// The cell the mark is about (the SLO's value that broke its limit,
    /// the `unknown` result): it carries the mark's sign ([`Mark::sign`])
    /// in every rendering, so a reader sees which figure failed, not only
    /// that the row did.
    pub at: Option<usize>,
}

impl Row {
    /// A plain row.
    pub(crate) fn new(cells: Vec<String>) -> Self {
        Row {
            cells,
            mark: None,
            at: None,
        }
    }

    /// A row marked `mark` (`None` leaves it plain).
    pub(crate) fn marked(cells: Vec<String>, mark: Option<Mark>) -> Self {
        Row {
            cells,
            mark,
            at: None,
        }
    }

    /// A row marked `mark` whose cell `at` is what the mark is about.
    pub(crate) fn marked_at(cells: Vec<String>, mark: Option<Mark>, at: usize) -> Self {
        Row {
            cells,
            mark,
            at: Some(at),
        }
    }

    /// The cell that carries the mark's sign, and the sign: none for a
    /// passing or plain row.
    pub(crate) fn flagged(&self) -> Option<(usize, &'static str)> {
        Some((self.at?, self.mark?.sign()?))
    }
}

/// A table: a header row (empty for a two-column table of labels and
/// values, which needs none), each column's alignment, the rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub head: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Row>,
}

impl Table {
    /// A table whose first column is text and the others numbers, the
    /// common shape (a name, then its figures).
    pub(crate) fn new(head: &[&str]) -> Self {
        let align = (0..head.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            align,
            rows: Vec::new(),
        }
    }

    /// A table with the alignment given column by column (`l`: text,
    /// `r`: a number), for tables with more than one text column.
    pub(crate) fn aligned(head: &[&str], align: &str) -> Self {
        debug_assert_eq!(head.len(), align.len(), "one alignment per column");
        let align = align
            .chars()
            .map(|c| if c == 'r' { Align::Right } else { Align::Left })
            .collect();
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            align,
            rows: Vec::new(),
        }
    }

    /// A headless table of labels and what they say, both text.
    pub(crate) fn labelled() -> Self {
        Table {
            head: Vec::new(),
            align: vec![Align::Left, Align::Left],
            rows: Vec::new(),
        }
    }

    /// A table of labels and their text, from a section's rows (label,
    /// text, whether it reports a broken guarantee).
    pub(crate) fn of_labels(rows: Vec<(&'static str, String, bool)>) -> Self {
        let mut t = Table::labelled();
        for (label, text, broken) in rows {
            t.label(label, text, broken);
        }
        t
    }

    /// Add a plain row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::new(cells));
    }

    /// Add a label and its text, marked as failing when `broken`.
    pub(crate) fn label(&mut self, label: &str, text: String, broken: bool) {
        let mark = broken.then_some(Mark::Fail);
        self.rows
            .push(Row::marked(vec![label.to_string(), text], mark));
    }

    /// The table with these rows added.
    pub(crate) fn with_rows(mut self, rows: impl IntoIterator<Item = Vec<String>>) -> Self {
        self.rows.extend(rows.into_iter().map(Row::new));
        self
    }
}

/// One part of a section, in reading order.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A paragraph of text.
    Text(String),
    /// A paragraph that warns (a failed self-check): bold in Markdown,
    /// marked in HTML.
    Warning(String),
    /// A bulleted list.
    List(Vec<String>),
    Table(Table),
}

/// A titled part of the report: what every rendering loops over. A
/// section without a title or a block is empty and left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub title: Option<String>,
    pub blocks: Vec<Block>,
}

impl Section {
    /// An empty section under `title`.
    pub(crate) fn titled(title: impl Into<String>) -> Self {
        Section {
            title: Some(title.into()),
            blocks: Vec::new(),
        }
    }

    /// Add a paragraph.
    pub(crate) fn text(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    /// Add a warning paragraph.
    pub(crate) fn warning(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Warning(text.into()));
        self
    }

    /// Add a list (nothing when `items` is empty).
    pub(crate) fn list(&mut self, items: Vec<String>) -> &mut Self {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
        self
    }

    /// Add a table (nothing when it has no row).
    pub(crate) fn table(&mut self, table: Table) -> &mut Self {
        if !table.rows.is_empty() {
            self.blocks.push(Block::Table(table));
        }
        self
    }

    /// Whether the section has nothing to show.
    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[cfg(test)]
impl Section {
    /// The cells of the rows of the table whose first column is headed
    /// `first`: what the sections' tests read, whatever the rendering.
    pub(crate) fn rows_under(&self, first: &str) -> Vec<Vec<String>> {
        (self.blocks.iter())
            .filter_map(|b| match b {
                Block::Table(t) if t.head.first().is_some_and(|h| h == first) => Some(t),
                _ => None,
            })
            .flat_map(|t| t.rows.iter().map(|r| r.cells.clone()))
            .collect()
    }
}
