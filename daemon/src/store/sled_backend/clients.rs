//! OIDC clients, keyed by `client_id`, with a name index for the CLI.

use super::{SledStore, StoreError, TxResult, from_tx};
use crate::model::Client;
use crate::store::codec::{decode, encode};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

impl SledStore {
    pub fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let _guard = self.writing()?;
        let value = encode(client)?;
        (&*self.clients, &*self.client_names)
            .transaction(|(clients, names)| -> TxResult<()> {
                if names.get(client.name.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::AlreadyExists(format!("client `{}`", client.name)),
                    ));
                }
                names.insert(client.name.as_bytes(), client.id.as_bytes())?;
                clients.insert(client.id.as_bytes(), value.clone())?;
                Ok(())
            })
            .map_err(from_tx)
    }

    pub fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.clients
            .get(client_id.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Whether the client is still registered, without reading its record.
    pub fn client_exists(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.contains_key(client_id.as_bytes())?)
    }

    pub fn client_by_name(&self, name: &str) -> Result<Option<Client>, StoreError> {
        match self.client_names.get(name.as_bytes())? {
            Some(id) => self.client(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// All clients, ordered by name.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut clients = Vec::new();
        for id in self.client_names.iter().values() {
            if let Some(client) = self.client(&String::from_utf8_lossy(&id?))? {
                clients.push(client);
            }
        }
        Ok(clients)
    }

    /// Replaces a client's record (its name stays as it is).
    pub fn update_client<F>(&self, client_id: &str, change: F) -> Result<Client, StoreError>
    where
        F: FnOnce(&mut Client) -> Result<(), StoreError>,
    {
        let _guard = self.writing()?;
        let mut client = self
            .client(client_id)?
            .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        let name = client.name.clone();
        change(&mut client)?;
        client.name = name;
        client.id = client_id.to_owned();
        self.clients
            .insert(client_id.as_bytes(), encode(&client)?)?;
        Ok(client)
    }

    pub fn delete_client(&self, client_id: &str) -> Result<Client, StoreError> {
        let _guard = self.writing()?;
        let client = self
            .client(client_id)?
            .ok_or_else(|| StoreError::NotFound(format!("client {client_id}")))?;
        (&*self.clients, &*self.client_names)
            .transaction(|(clients, names)| -> TxResult<()> {
                clients.remove(client.id.as_bytes())?;
                names.remove(client.name.as_bytes())?;
                Ok(())
            })
            .map_err(from_tx)?;
        self.remove_consents_to(&client.id)?;
        Ok(client)
    }
}
