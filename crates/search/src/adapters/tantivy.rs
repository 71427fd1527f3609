//! The search index on tantivy, in `<data>/search/{posts,users}`: the embedded default.
//! Terms arrive already made (see [`crate::text`]), so every field is an untokenised,
//! multi-valued string; ids are fast fields, which give newest-first order for free.

use std::ops::Bound;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::Id;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, FAST, INDEXED, STORED, STRING};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

use crate::ports::{Hits, IndexBackend, IndexOp};
use crate::text::PostQuery;

/// The indexing arena of the one writer thread: tantivy's smallest (each commit starts a
/// new one, zeroed, so a larger one only costs more per commit at Chirp's batch sizes).
const WRITER_MEMORY: usize = 15 * 1024 * 1024;

struct Part {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    id: Field,
}

impl Part {
    fn open(dir: &Path, schema: Schema) -> anyhow::Result<Self> {
        // The owner's alone, like the rest of the data directory.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let mmap =
            MmapDirectory::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        let index = Index::open_or_create(mmap, schema.clone())
            .with_context(|| format!("opening the index in {}", dir.display()))?;
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .context("opening the index writer")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context("opening the index reader")?;
        let id = schema.get_field("id").context("schema has no id")?;
        Ok(Part {
            index,
            writer: Mutex::new(writer),
            reader,
            id,
        })
    }

    fn field(&self, name: &str) -> anyhow::Result<Field> {
        Ok(self.index.schema().get_field(name)?)
    }

    /// Runs `query` restricted to ids below the page's cursor, newest first.
    fn search(&self, query: Box<dyn Query>, page: PageRequest) -> anyhow::Result<Hits> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query)];
        if let Some(before) = page.before {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new_u64_bounds(
                    "id".to_owned(),
                    Bound::Unbounded,
                    Bound::Excluded(before),
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(page.limit + 1).order_by_fast_field::<u64>("id", Order::Desc),
        )?;
        let more = top.len() > page.limit;
        Ok(Hits {
            ids: top
                .into_iter()
                .take(page.limit)
                .map(|(id, _)| Id(id))
                .collect(),
            more,
        })
    }
}

fn id_schema() -> tantivy::schema::SchemaBuilder {
    let mut b = Schema::builder();
    b.add_u64_field("id", INDEXED | FAST | STORED);
    b
}

pub struct TantivyIndex {
    posts: Arc<Part>,
    users: Arc<Part>,
}

impl TantivyIndex {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let mut posts = id_schema();
        posts.add_u64_field("author", INDEXED);
        posts.add_text_field("words", STRING);
        posts.add_text_field("tags", STRING);
        let mut users = id_schema();
        users.add_text_field("handle", STRING);
        users.add_text_field("name", STRING);
        users.add_text_field("name_words", STRING);
        Ok(TantivyIndex {
            posts: Arc::new(Part::open(&dir.join("posts"), posts.build())?),
            users: Arc::new(Part::open(&dir.join("users"), users.build())?),
        })
    }

    fn apply_now(&self, ops: &[IndexOp]) -> anyhow::Result<()> {
        let (p_words, p_tags, p_author) = (
            self.posts.field("words")?,
            self.posts.field("tags")?,
            self.posts.field("author")?,
        );
        let (u_handle, u_name, u_name_words) = (
            self.users.field("handle")?,
            self.users.field("name")?,
            self.users.field("name_words")?,
        );
        let posts = self
            .posts
            .writer
            .lock()
            .map_err(|_| anyhow::anyhow!("writer lock poisoned"))?;
        let users = self
            .users
            .writer
            .lock()
            .map_err(|_| anyhow::anyhow!("writer lock poisoned"))?;
        let (mut posts_changed, mut users_changed) = (false, false);
        for op in ops {
            match op {
                IndexOp::Post {
                    id,
                    author,
                    words,
                    tags,
                } => {
                    posts.delete_term(Term::from_field_u64(self.posts.id, id.get()));
                    let mut doc = TantivyDocument::default();
                    doc.add_u64(self.posts.id, id.get());
                    doc.add_u64(p_author, author.get());
                    for w in words {
                        doc.add_text(p_words, w);
                    }
                    for t in tags {
                        doc.add_text(p_tags, t);
                    }
                    posts.add_document(doc)?;
                    posts_changed = true;
                }
                IndexOp::RemovePost { id } => {
                    posts.delete_term(Term::from_field_u64(self.posts.id, id.get()));
                    posts_changed = true;
                }
                IndexOp::RemoveUser { id } => {
                    users.delete_term(Term::from_field_u64(self.users.id, id.get()));
                    posts.delete_term(Term::from_field_u64(p_author, id.get()));
                    (posts_changed, users_changed) = (true, true);
                }
                IndexOp::User {
                    id,
                    handle_key,
                    name_key,
                } => {
                    users.delete_term(Term::from_field_u64(self.users.id, id.get()));
                    let mut doc = TantivyDocument::default();
                    doc.add_u64(self.users.id, id.get());
                    doc.add_text(u_handle, handle_key);
                    doc.add_text(u_name, name_key);
                    for w in name_key.split(' ').filter(|w| !w.is_empty()) {
                        doc.add_text(u_name_words, w);
                    }
                    users.add_document(doc)?;
                    users_changed = true;
                }
            }
        }
        drop((posts, users));
        for (part, changed) in [(&self.posts, posts_changed), (&self.users, users_changed)] {
            if changed {
                part.writer
                    .lock()
                    .map_err(|_| anyhow::anyhow!("writer lock poisoned"))?
                    .commit()?;
                part.reader.reload()?;
            }
        }
        Ok(())
    }
}

/// A regular expression matching every term that starts with `prefix`. Name keys hold
/// only word characters and spaces, none of which is special to a regular expression.
fn prefix_pattern(prefix: &str) -> String {
    format!("{prefix}.*")
}

#[async_trait]
impl IndexBackend for TantivyIndex {
    const DEPENDENCY: &'static str = "tantivy";

    async fn apply_async(&self, ops: Vec<IndexOp>) -> anyhow::Result<()> {
        let me = TantivyIndex {
            posts: self.posts.clone(),
            users: self.users.clone(),
        };
        tokio::task::spawn_blocking(move || me.apply_now(&ops)).await?
    }

    async fn posts_now(&self, q: &PostQuery, page: PageRequest) -> anyhow::Result<Hits> {
        let (words, tags) = (self.posts.field("words")?, self.posts.field("tags")?);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, terms) in [(words, &q.words), (tags, &q.tags)] {
            for t in terms {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
        }
        let part = self.posts.clone();
        tokio::task::spawn_blocking(move || part.search(Box::new(BooleanQuery::new(clauses)), page))
            .await?
    }

    async fn users_now(&self, prefix: &str, page: PageRequest) -> anyhow::Result<Hits> {
        let pattern = prefix_pattern(prefix);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut fields = vec![self.users.field("name")?];
        if !prefix.contains(' ') {
            fields.push(self.users.field("handle")?);
            fields.push(self.users.field("name_words")?);
        }
        for f in fields {
            clauses.push((
                Occur::Should,
                Box::new(RegexQuery::from_pattern(&pattern, f)?),
            ));
        }
        let part = self.users.clone();
        tokio::task::spawn_blocking(move || part.search(Box::new(BooleanQuery::new(clauses)), page))
            .await?
    }

    async fn ping_now(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
