//! The `engine::Store` implementation both backends share. The SQL is the
//! same text on both (`sql.rs`), and so is the Rust around it; only the pool
//! type differs, and sqlx's executors are concrete per database, so
//! `impl_store!` stamps the one body out for each pool type instead of
//! copying it into `sqlite.rs` and `postgres.rs`.

use time::{Duration, OffsetDateTime};

pub(crate) const EMAIL_TAKEN: &str = "email is already in use";
pub(crate) const TEAM_NAME_TAKEN: &str = "a team with that name already exists";
pub(crate) const ALREADY_SET_UP: &str = "setup is already done: a user exists";
pub(crate) const TOKEN_SECRET_TAKEN: &str = "a token with that secret already exists";

/// A token's last use is recorded at most this often, so that a script
/// calling the API in a loop doesn't cost a write per request.
pub(crate) const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// The current time at microsecond precision: what PostgreSQL keeps, so that
/// a stored time reads back equal on both backends.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now - Duration::nanoseconds(i64::from(now.nanosecond() % 1_000))
}

/// Implements `engine::Store` for `$store`, a struct with a
/// `pool: sqlx::Pool<$db>` field and two inherent methods for what differs
/// between backends:
///
/// * `async fn begin_write(&self) -> Result<Transaction<'static, $db>, sqlx::Error>`
///   starts a transaction that will write;
/// * `async fn lock_for_setup(tx: &mut Transaction<'static, $db>) -> Result<(), sqlx::Error>`
///   makes racing first-run setups take turns.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        // An anonymous const gives the `use`s a scope of their own.
        const _: () = {
            use ::engine::ids::{AccountId, TeamId, TokenId, UserId};
            use ::engine::{
                Account, ApiToken, Credentials, Email, Name, NewUser, Principal, StoreError,
                StoreResult, Team, User,
            };
            use ::time::OffsetDateTime;
            use ::uuid::Uuid;
            use $crate::error::{db_error, unique_or_db_error};
            use $crate::rows;
            use $crate::shared::{
                ALREADY_SET_UP, EMAIL_TAKEN, LAST_USED_RESOLUTION, TEAM_NAME_TAKEN,
                TOKEN_SECRET_TAKEN, now,
            };
            use $crate::sql;

            impl $store {
                async fn insert_account_with_admin(
                    tx: &mut ::sqlx::Transaction<'static, $db>,
                    name: &Name,
                    admin: NewUser,
                ) -> StoreResult<(Account, User)> {
                    let insert = ::sqlx::query_as::<_, rows::AccountRow>(sql::INSERT_ACCOUNT);
                    let account: Account = insert
                        .bind(AccountId::new().as_uuid())
                        .bind(name.as_str())
                        .bind(now())
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "inserting an account"))?
                        .into();
                    let user = Self::insert_user(&mut **tx, account.id, admin).await?;
                    Ok((account, user))
                }

                async fn insert_user<'c>(
                    executor: impl ::sqlx::Executor<'c, Database = $db>,
                    account_id: AccountId,
                    user: NewUser,
                ) -> StoreResult<User> {
                    ::sqlx::query_as::<_, rows::UserRow>(sql::INSERT_USER)
                        .bind(UserId::new().as_uuid())
                        .bind(account_id.as_uuid())
                        .bind(user.email.as_str())
                        .bind(user.name.as_str())
                        .bind(user.role.as_str())
                        .bind(user.password_hash)
                        .bind(now())
                        .fetch_one(executor)
                        .await
                        .map_err(|e| unique_or_db_error(e, EMAIL_TAKEN, "inserting a user"))?
                        .try_into()
                }

                /// How many rows a `COUNT(*)` query with these ids finds.
                async fn count(&self, query: &'static str, ids: &[Uuid]) -> StoreResult<i64> {
                    let mut query = ::sqlx::query_scalar::<_, i64>(query);
                    for id in ids {
                        query = query.bind(*id);
                    }
                    query
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "counting rows"))
                }
            }

            #[::async_trait::async_trait]
            impl ::engine::store::AccountStore for $store {
                async fn ping(&self) -> StoreResult<()> {
                    ::sqlx::query(sql::PING)
                        .execute(&self.pool)
                        .await
                        .map(drop)
                        .map_err(|e| db_error(e, "pinging the database"))
                }

                async fn setup_first_account(
                    &self,
                    account: &Name,
                    admin: NewUser,
                ) -> StoreResult<(Account, User)> {
                    let mut tx = self
                        .begin_write()
                        .await
                        .map_err(|e| db_error(e, "starting first-run setup"))?;
                    Self::lock_for_setup(&mut tx)
                        .await
                        .map_err(|e| db_error(e, "locking for first-run setup"))?;
                    let users: i64 = ::sqlx::query_scalar(sql::COUNT_USERS)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "counting users"))?;
                    if users > 0 {
                        // Dropping `tx` rolls back.
                        return Err(StoreError::Conflict(ALREADY_SET_UP));
                    }
                    let created = Self::insert_account_with_admin(&mut tx, account, admin).await?;
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing first-run setup"))?;
                    Ok(created)
                }

                async fn create_account(
                    &self,
                    account: &Name,
                    admin: NewUser,
                ) -> StoreResult<(Account, User)> {
                    let mut tx = self
                        .begin_write()
                        .await
                        .map_err(|e| db_error(e, "starting to create an account"))?;
                    let created = Self::insert_account_with_admin(&mut tx, account, admin).await?;
                    tx.commit()
                        .await
                        .map_err(|e| db_error(e, "committing a new account"))?;
                    Ok(created)
                }

                async fn credentials_by_email(
                    &self,
                    email: &Email,
                ) -> StoreResult<Option<Credentials>> {
                    ::sqlx::query_as::<_, rows::CredentialsRow>(sql::CREDENTIALS_BY_EMAIL)
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "looking up credentials"))?
                        .map(Credentials::try_from)
                        .transpose()
                }

                async fn create_web_session(
                    &self,
                    user_id: UserId,
                    secret_hash: &str,
                    expires_at: OffsetDateTime,
                ) -> StoreResult<()> {
                    let inserted = ::sqlx::query(sql::INSERT_WEB_SESSION)
                        .bind(secret_hash)
                        .bind(user_id.as_uuid())
                        .bind(now())
                        .bind(expires_at)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "inserting a web session"))?
                        .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn principal_by_web_session(
                    &self,
                    secret_hash: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<Option<Principal>> {
                    let row =
                        ::sqlx::query_as::<_, rows::WebSessionRow>(sql::WEB_SESSION_PRINCIPAL)
                            .bind(secret_hash)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(|e| db_error(e, "looking up a web session"))?;
                    match row {
                        Some(row) if row.expires_at > now => Ok(Some(row.principal.try_into()?)),
                        _ => Ok(None),
                    }
                }

                async fn delete_web_session(&self, secret_hash: &str) -> StoreResult<()> {
                    ::sqlx::query(sql::DELETE_WEB_SESSION)
                        .bind(secret_hash)
                        .execute(&self.pool)
                        .await
                        .map(drop)
                        .map_err(|e| db_error(e, "deleting a web session"))
                }

                async fn account_admins_named(&self, name: &str) -> StoreResult<Vec<Principal>> {
                    let rows =
                        ::sqlx::query_as::<_, rows::PrincipalRow>(sql::ADMINS_OF_ACCOUNTS_NAMED)
                            .bind(name)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(|e| db_error(e, "finding an account by name"))?;
                    let mut out: Vec<Principal> = Vec::new();
                    for row in rows {
                        let p = Principal::try_from(row)?;
                        if !out.iter().any(|o| o.account_id == p.account_id) {
                            out.push(p);
                        }
                    }
                    Ok(out)
                }

                async fn principal_by_api_token(
                    &self,
                    secret_hash: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<Option<Principal>> {
                    let lookup =
                        ::sqlx::query_as::<_, rows::TokenPrincipalRow>(sql::API_TOKEN_PRINCIPAL);
                    let Some(row) = lookup
                        .bind(secret_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "looking up an API token"))?
                    else {
                        return Ok(None);
                    };
                    if row
                        .last_used_at
                        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
                    {
                        // Bookkeeping only: a failed write must not refuse a valid token.
                        let touched = ::sqlx::query(sql::TOUCH_API_TOKEN)
                            .bind(row.token_id)
                            .bind(now)
                            .execute(&self.pool)
                            .await;
                        if let Err(error) = touched {
                            ::tracing::warn!(
                                %error,
                                token.id = %row.token_id,
                                "could not record an API token's use"
                            );
                        }
                    }
                    Ok(Some(row.principal.try_into()?))
                }

                async fn create_api_token(
                    &self,
                    who: &Principal,
                    name: &Name,
                    secret_hash: &str,
                ) -> StoreResult<ApiToken> {
                    ::sqlx::query_as::<_, rows::TokenRow>(sql::INSERT_API_TOKEN)
                        .bind(TokenId::new().as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(name.as_str())
                        .bind(secret_hash)
                        .bind(now())
                        .fetch_one(&self.pool)
                        .await
                        .map(ApiToken::from)
                        .map_err(|e| {
                            unique_or_db_error(e, TOKEN_SECRET_TAKEN, "inserting an API token")
                        })
                }

                async fn list_api_tokens(&self, who: &Principal) -> StoreResult<Vec<ApiToken>> {
                    let rows = ::sqlx::query_as::<_, rows::TokenRow>(sql::LIST_API_TOKENS)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing API tokens"))?;
                    Ok(rows.into_iter().map(ApiToken::from).collect())
                }

                async fn revoke_api_token(&self, who: &Principal, id: TokenId) -> StoreResult<()> {
                    let revoked = ::sqlx::query(sql::REVOKE_API_TOKEN)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(now())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "revoking an API token"))?
                        .rows_affected();
                    if revoked == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn get_user(&self, who: &Principal, id: UserId) -> StoreResult<User> {
                    ::sqlx::query_as::<_, rows::UserRow>(sql::GET_USER)
                        .bind(id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "getting a user"))?
                        .try_into()
                }

                async fn create_user(&self, who: &Principal, user: NewUser) -> StoreResult<User> {
                    Self::insert_user(&self.pool, who.account_id, user).await
                }

                async fn list_users(&self, who: &Principal) -> StoreResult<Vec<User>> {
                    let rows = ::sqlx::query_as::<_, rows::UserRow>(sql::LIST_USERS)
                        .bind(who.account_id.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing users"))?;
                    rows::users(rows)
                }

                async fn create_team(&self, who: &Principal, name: &Name) -> StoreResult<Team> {
                    ::sqlx::query_as::<_, rows::TeamRow>(sql::INSERT_TEAM)
                        .bind(TeamId::new().as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(name.as_str())
                        .bind(now())
                        .fetch_one(&self.pool)
                        .await
                        .map(Team::from)
                        .map_err(|e| unique_or_db_error(e, TEAM_NAME_TAKEN, "inserting a team"))
                }

                async fn list_teams(&self, who: &Principal) -> StoreResult<Vec<Team>> {
                    let rows = ::sqlx::query_as::<_, rows::TeamRow>(sql::LIST_TEAMS)
                        .bind(who.account_id.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing teams"))?;
                    Ok(rows.into_iter().map(Team::from).collect())
                }

                async fn add_team_member(
                    &self,
                    who: &Principal,
                    team: TeamId,
                    user: UserId,
                ) -> StoreResult<()> {
                    let ids = [who.account_id.as_uuid(), team.as_uuid(), user.as_uuid()];
                    let inserted = ::sqlx::query(sql::ADD_TEAM_MEMBER)
                        .bind(ids[0])
                        .bind(ids[1])
                        .bind(ids[2])
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "adding a team member"))?
                        .rows_affected();
                    // Nothing inserted: already a member (fine), or the team or
                    // the user is not the account's.
                    if inserted == 0 && self.count(sql::COUNT_TEAM_MEMBER, &ids).await? == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn remove_team_member(
                    &self,
                    who: &Principal,
                    team: TeamId,
                    user: UserId,
                ) -> StoreResult<()> {
                    let removed = ::sqlx::query(sql::REMOVE_TEAM_MEMBER)
                        .bind(who.account_id.as_uuid())
                        .bind(team.as_uuid())
                        .bind(user.as_uuid())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "removing a team member"))?
                        .rows_affected();
                    if removed == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn list_team_members(
                    &self,
                    who: &Principal,
                    team: TeamId,
                ) -> StoreResult<Vec<User>> {
                    // Another account's team is NotFound, not an empty list.
                    let ids = [who.account_id.as_uuid(), team.as_uuid()];
                    if self.count(sql::COUNT_TEAM, &ids).await? == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let rows = ::sqlx::query_as::<_, rows::UserRow>(sql::LIST_TEAM_MEMBERS)
                        .bind(who.account_id.as_uuid())
                        .bind(team.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing team members"))?;
                    rows::users(rows)
                }
            }
        };
    };
}

pub(crate) use impl_store;
