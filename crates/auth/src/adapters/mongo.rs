//! Identities in MongoDB: the deployed adapter. One collection, `identities`, keyed by
//! the user id, with unique indexes on the lower-cased handle and email; a duplicate is
//! told apart by the index it hit.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::Id;
use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::ports::{CreateError, Identity, IdentityStore};

#[derive(Debug, Serialize, Deserialize)]
struct IdentityDoc {
    #[serde(rename = "_id")]
    id: i64,
    handle: String,
    handle_key: String,
    email: String,
    email_key: String,
    display_name: String,
    password_hash: String,
    created_at: i64,
}

pub struct MongoIdentities {
    database: mongodb::Database,
    identities: Collection<IdentityDoc>,
    /// The indexes are made once, on first use, so that a MongoDB that is down at start
    /// costs 503s rather than the process.
    indexed: OnceCell<()>,
}

impl MongoIdentities {
    /// `url`: `mongodb://host:27017/<database>`; the database defaults to `chirp`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await.context("MONGODB_URL")?;
        options.connect_timeout = Some(Duration::from_secs(2));
        options.server_selection_timeout = Some(Duration::from_secs(2));
        options.app_name = Some("chirp-auth".into());
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| "chirp".into());
        let client = Client::with_options(options)?;
        let database = client.database(&database);
        Ok(MongoIdentities {
            identities: database.collection("identities"),
            database,
            indexed: OnceCell::new(),
        })
    }

    async fn ready(&self) -> StoreResult<()> {
        let made = self
            .indexed
            .get_or_try_init(|| async {
                for key in ["handle_key", "email_key"] {
                    let index = IndexModel::builder()
                        .keys(doc! { key: 1 })
                        .options(
                            IndexOptions::builder()
                                .unique(true)
                                .name(key.to_owned())
                                .build(),
                        )
                        .build();
                    self.identities.create_index(index).await?;
                }
                Ok::<(), mongodb::error::Error>(())
            })
            .await;
        made.map(|_| ()).map_err(mongo)
    }
}

/// A failed call to MongoDB.
fn mongo(e: mongodb::error::Error) -> StoreError {
    StoreError::new("mongodb", e)
}

fn identity(d: IdentityDoc) -> Identity {
    Identity {
        id: Id::from_i64(d.id),
        handle: d.handle,
        email: d.email,
        display_name: d.display_name,
        password_hash: d.password_hash,
        created_at_ms: d.created_at,
    }
}

#[async_trait]
impl IdentityStore for MongoIdentities {
    async fn insert(&self, i: &Identity) -> Result<(), CreateError> {
        self.ready().await?;
        let d = IdentityDoc {
            id: i.id.as_i64(),
            handle: i.handle.clone(),
            handle_key: i.handle.to_ascii_lowercase(),
            email: i.email.clone(),
            email_key: i.email.to_lowercase(),
            display_name: i.display_name.clone(),
            password_hash: i.password_hash.clone(),
            created_at: i.created_at_ms,
        };
        match self.identities.insert_one(d).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000 => {
                    if w.message.contains("email_key") {
                        Err(CreateError::EmailTaken)
                    } else {
                        Err(CreateError::HandleTaken)
                    }
                }
                _ => Err(CreateError::Store(mongo(e))),
            },
        }
    }

    async fn remove(&self, id: Id) -> StoreResult<()> {
        self.identities
            .delete_one(doc! { "_id": id.as_i64() })
            .await
            .map_err(mongo)?;
        Ok(())
    }

    async fn find_by_login(&self, login: &str) -> StoreResult<Option<Identity>> {
        self.ready().await?;
        let key = login.to_lowercase();
        let found = self
            .identities
            .find_one(doc! { "$or": [ { "handle_key": &key }, { "email_key": &key } ] })
            .await
            .map_err(mongo)?;
        Ok(found.map(identity))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.ready().await?;
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(mongo)?;
        Ok(())
    }
}
