//! `engine::sessions::SessionStore` for both backends: sessions, turns, the
//! task lane, facts and fixes. Like `shared::impl_store!`, one body is
//! stamped out per pool type.

pub(crate) mod branches;
pub(crate) mod rows;
pub(crate) mod sql;

/// A racing request inserted the same idempotency key first.
pub(crate) const KEY_TAKEN: &str = "idempotency key taken";
/// What an idempotency key was used for.
pub(crate) const CREATE_SCOPE: &str = "create_session";
pub(crate) const SEND_SCOPE: &str = "send_message";

/// Implements `engine::sessions::SessionStore` for `$store` (see
/// `shared::impl_store!` for what `$store` must provide).
macro_rules! impl_sessions_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use ::engine::events::{ExpiredTurn, NewEvent, StoredEvent};
            use ::engine::ids::{AccountId, FactId, FixId, SessionId, TurnId};
            use ::engine::sessions::SUMMARY_MAX_CHARS;
            use ::engine::sessions::SessionStore as _;
            use ::engine::sessions::{
                BeginOutcome, BeginTurn, Fact, FactPatch, Fix, FixChange, FixDecision, FixOutcome,
                HistoryTurn, IDEMPOTENCY_MISMATCH, IDEMPOTENCY_WINDOW_MS, IdempotencyKey, LaneItem,
                LeaseState, LostTurn, NO_TURN_RUNNING, NOT_A_TEAM_MEMBER, NewFact, NewSession,
                ReplayedTurn, ReplyRecord, SESSION_CLOSED, SESSION_RESOLVED, STALE_STATE, Session,
                SessionFilter, SessionPatch, SessionView, TURN_RUNNING, Turn, TurnCommit,
                TurnCommitted, TurnContext, TurnErrorInfo, TurnStarted, TurnStatus,
            };
            use ::engine::turn::{TurnFailure, started_event};
            use ::engine::{Principal, StoreError, StoreResult};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use $crate::error::{db_error, unique_or_db_error};
            use $crate::events::now_ms;
            use $crate::sessions::rows::{self, all};
            use $crate::sessions::sql;
            use $crate::sessions::{CREATE_SCOPE, KEY_TAKEN, SEND_SCOPE};
            use $crate::shared::now;

            type Tx = ::sqlx::Transaction<'static, $db>;

            impl $store {
                async fn begin_session_write(&self, doing: &'static str) -> StoreResult<Tx> {
                    self.begin_write().await.map_err(|e| db_error(e, doing))
                }

                /// The session, if the caller can see it.
                async fn visible_session<'c>(
                    executor: impl ::sqlx::Executor<'c, Database = $db>,
                    who: &Principal,
                    id: SessionId,
                ) -> StoreResult<Option<rows::SessionRow>> {
                    ::sqlx::query_as::<_, rows::SessionRow>(sql::GET_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .fetch_optional(executor)
                        .await
                        .map_err(|e| db_error(e, "reading a session"))
                }

                /// Bumps the session's `state_version` inside `tx`, first
                /// thing, so concurrent writers queue on the row: `NotFound`
                /// when the caller can't see it, `Conflict(STALE_STATE)`
                /// when `expected` is given and stale.
                async fn bump(
                    tx: &mut Tx,
                    who: &Principal,
                    id: SessionId,
                    expected: Option<i64>,
                ) -> StoreResult<Session> {
                    let row = ::sqlx::query_as::<_, rows::SessionRow>(sql::BUMP_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(now())
                        .bind(expected)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "updating a session's version"))?;
                    match row {
                        Some(row) => row.into_session(),
                        None => Err(Self::why_not_updated(tx, who, id).await),
                    }
                }

                /// After an update matched no row: absent or stale?
                async fn why_not_updated(
                    tx: &mut Tx,
                    who: &Principal,
                    id: SessionId,
                ) -> StoreError {
                    match Self::visible_session(&mut **tx, who, id).await {
                        Ok(Some(_)) => StoreError::Conflict(STALE_STATE),
                        Ok(None) => StoreError::NotFound,
                        Err(e) => e,
                    }
                }

                async fn commit(tx: Tx, doing: &'static str) -> StoreResult<()> {
                    tx.commit().await.map_err(|e| db_error(e, doing))
                }

                /// Records `session.changed` for a change made in `tx`.
                async fn changed(
                    tx: &mut Tx,
                    who: &Principal,
                    s: &Session,
                    kind: &'static str,
                    id: Uuid,
                ) -> StoreResult<Vec<StoredEvent>> {
                    let event = NewEvent::session_changed(s.state_version, kind, id);
                    Self::append_in_tx(tx, who.account_id, s.id, vec![event]).await
                }

                /// A key seen before (within the window), if any:
                /// `Conflict(IDEMPOTENCY_MISMATCH)` when it came with
                /// another request.
                async fn find_key(
                    tx: &mut Tx,
                    who: &Principal,
                    key: &IdempotencyKey,
                    scope: &str,
                ) -> StoreResult<Option<rows::KeyRow>> {
                    let not_before = now_ms() - IDEMPOTENCY_WINDOW_MS;
                    let row = ::sqlx::query_as::<_, rows::KeyRow>(sql::FIND_KEY)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(&key.key)
                        .bind(not_before)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "looking up an idempotency key"))?;
                    match row {
                        Some(r) if r.scope != scope || r.request_hash != key.request_hash => {
                            Err(StoreError::Conflict(IDEMPOTENCY_MISMATCH))
                        }
                        Some(r) => Ok(Some(r)),
                        None => {
                            ::sqlx::query(sql::DROP_EXPIRED_KEY)
                                .bind(who.account_id.as_uuid())
                                .bind(who.user_id.as_uuid())
                                .bind(&key.key)
                                .bind(not_before)
                                .execute(&mut **tx)
                                .await
                                .map_err(|e| {
                                    db_error(e, "forgetting an expired idempotency key")
                                })?;
                            Ok(None)
                        }
                    }
                }

                async fn insert_key(
                    tx: &mut Tx,
                    who: &Principal,
                    key: &IdempotencyKey,
                    scope: &str,
                    session: SessionId,
                    turn: Option<TurnId>,
                ) -> StoreResult<()> {
                    ::sqlx::query(sql::INSERT_KEY)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(&key.key)
                        .bind(scope)
                        .bind(&key.request_hash)
                        .bind(session.as_uuid())
                        .bind(turn.map(|t| t.as_uuid()))
                        .bind(now_ms())
                        .execute(&mut **tx)
                        .await
                        .map(drop)
                        .map_err(|e| {
                            unique_or_db_error(e, KEY_TAKEN, "recording an idempotency key")
                        })
                }

                /// Fails the running turn of `session` if its lease ended
                /// before `now_ms`, with a `turn.failed` event.
                async fn expire_in_tx(
                    tx: &mut Tx,
                    session: SessionId,
                    now_ms: i64,
                    why: LostTurn,
                ) -> StoreResult<(Vec<ExpiredTurn>, Vec<StoredEvent>)> {
                    let info = TurnFailure::lost(TurnId::new(), why).info();
                    let expired: Vec<(Uuid, Uuid, Uuid)> = ::sqlx::query_as(sql::EXPIRE_LEASES)
                        .bind(Json(&info))
                        .bind(now_ms)
                        .bind(now())
                        .bind(session.as_uuid())
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "failing abandoned turns"))?;
                    let mut events = Vec::new();
                    let mut lost = Vec::with_capacity(expired.len());
                    for (account, session, turn) in expired {
                        let turn_id = TurnId::from(turn);
                        let failure = TurnFailure::lost(turn_id, why);
                        events.extend(
                            Self::append_in_tx(
                                tx,
                                AccountId::from(account),
                                SessionId::from(session),
                                vec![failure.event(turn_id)],
                            )
                            .await?,
                        );
                        lost.push(ExpiredTurn {
                            account_id: account.into(),
                            session_id: session.into(),
                            turn_id,
                        });
                    }
                    Ok((lost, events))
                }

                /// Inserts the running turn; `false` when one already runs.
                #[allow(clippy::too_many_arguments)]
                async fn insert_running_turn(
                    tx: &mut Tx,
                    who: &Principal,
                    id: SessionId,
                    session: &Session,
                    turn: &BeginTurn,
                    now_ms: i64,
                    first_event_id: i64,
                ) -> StoreResult<bool> {
                    let row: Option<Uuid> = ::sqlx::query_scalar(sql::INSERT_RUNNING_TURN)
                        .bind(turn.turn_id.as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(session.active_branch_id.map(|b| b.as_uuid()))
                        .bind(&turn.user_message)
                        .bind(Json(&turn.images))
                        .bind(Json(&turn.task_responses))
                        .bind(now())
                        .bind(now_ms.saturating_add(turn.lease_ms))
                        .bind(first_event_id)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "inserting a turn"))?;
                    Ok(row.is_some())
                }

                fn replayed(row: rows::KeyRow) -> Option<ReplayedTurn> {
                    Some(ReplayedTurn {
                        turn_id: row.turn_id?.into(),
                        first_event_id: row.first_event_id?,
                    })
                }

                async fn begin_turn_once(
                    &self,
                    who: &Principal,
                    id: SessionId,
                    turn: BeginTurn,
                ) -> StoreResult<BeginOutcome> {
                    let mut tx = self.begin_session_write("starting a turn").await?;
                    if let Some(key) = &turn.idempotency
                        && let Some(found) = Self::find_key(&mut tx, who, key, SEND_SCOPE).await?
                    {
                        Self::commit(tx, "ending a read").await?;
                        return Self::replayed(found)
                            .map(BeginOutcome::Replay)
                            .ok_or(StoreError::NotFound);
                    }
                    let at = now();
                    let now_ms = now_ms();
                    let row = ::sqlx::query_as::<_, rows::SessionRow>(sql::BEGIN_TURN_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(at)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "starting a turn"))?;
                    let Some(row) = row else {
                        let current = Self::visible_session(&mut *tx, who, id).await?;
                        return Err(match current.map(|r| r.status) {
                            None => StoreError::NotFound,
                            Some(s) if s == "closed" => StoreError::Conflict(SESSION_CLOSED),
                            Some(_) => StoreError::Conflict(SESSION_RESOLVED),
                        });
                    };
                    let session = row.into_session()?;
                    let mut events = Self::append_in_tx(
                        &mut tx,
                        who.account_id,
                        id,
                        vec![started_event(turn.turn_id)],
                    )
                    .await?;
                    let first_event_id = events.first().map_or(0, |e| e.id);
                    let mut inserted = Self::insert_running_turn(
                        &mut tx,
                        who,
                        id,
                        &session,
                        &turn,
                        now_ms,
                        first_event_id,
                    )
                    .await?;
                    if !inserted {
                        // A turn runs: if its instance died, its lease has
                        // run out and it gives way now, before any sweeper.
                        let (lost, failed) =
                            Self::expire_in_tx(&mut tx, id, now_ms, LostTurn::LeaseExpired).await?;
                        if !lost.is_empty() {
                            events.extend(failed);
                            inserted = Self::insert_running_turn(
                                &mut tx,
                                who,
                                id,
                                &session,
                                &turn,
                                now_ms,
                                first_event_id,
                            )
                            .await?;
                        }
                    }
                    if !inserted {
                        return Err(StoreError::Conflict(TURN_RUNNING));
                    }
                    if let Some(key) = &turn.idempotency {
                        Self::insert_key(&mut tx, who, key, SEND_SCOPE, id, Some(turn.turn_id))
                            .await?;
                    }
                    self.commit_and_publish(tx, &events, "committing a new turn")
                        .await?;
                    Ok(BeginOutcome::Started(TurnStarted {
                        session,
                        first_event_id,
                    }))
                }

                async fn create_session_once(
                    &self,
                    who: &Principal,
                    new: &NewSession,
                ) -> StoreResult<Session> {
                    let mut tx = self
                        .begin_session_write("starting to create a session")
                        .await?;
                    if let Some(key) = &new.idempotency
                        && let Some(found) = Self::find_key(&mut tx, who, key, CREATE_SCOPE).await?
                    {
                        Self::commit(tx, "ending a read").await?;
                        return self.get_session(who, found.session_id.into()).await;
                    }
                    let id = SessionId::new();
                    let row = ::sqlx::query_as::<_, rows::SessionRow>(sql::INSERT_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(new.team_id.map(|t| t.as_uuid()))
                        .bind(&new.title)
                        .bind(&new.intake)
                        .bind(now())
                        .fetch_optional(&mut *tx)
                        .await;
                    let session = match row {
                        Ok(Some(row)) => row.into_session()?,
                        // The team is set and the caller is not in it.
                        Ok(None) => return Err(StoreError::Conflict(NOT_A_TEAM_MEMBER)),
                        // Not a team of this account (the foreign key).
                        Err(::sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                            return Err(StoreError::NotFound);
                        }
                        Err(e) => return Err(db_error(e, "inserting a session")),
                    };
                    if let Some(key) = &new.idempotency {
                        Self::insert_key(&mut tx, who, key, CREATE_SCOPE, id, None).await?;
                    }
                    Self::commit(tx, "committing a new session").await?;
                    Ok(session)
                }

                async fn fix_for_write(
                    tx: &mut Tx,
                    who: &Principal,
                    fix: FixId,
                    expected: Option<i64>,
                ) -> StoreResult<Session> {
                    let row = ::sqlx::query_as::<_, rows::FixRow>(sql::GET_FIX)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(fix.as_uuid())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "reading a fix"))?
                        .ok_or(StoreError::NotFound)?;
                    Self::bump(tx, who, row.session_id.into(), expected).await
                }

                async fn update_fix(
                    &self,
                    who: &Principal,
                    fix: FixId,
                    expected: Option<i64>,
                    query: ::sqlx::query::QueryAs<
                        'static,
                        $db,
                        rows::FixRow,
                        <$db as ::sqlx::Database>::Arguments,
                    >,
                ) -> StoreResult<(Fix, Session)> {
                    let mut tx = self.begin_session_write("starting to update a fix").await?;
                    let session = Self::fix_for_write(&mut tx, who, fix, expected).await?;
                    let row = query
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "updating a fix"))?;
                    let events = Self::changed(&mut tx, who, &session, "fix", row.id).await?;
                    self.commit_and_publish(tx, &events, "committing a fix update")
                        .await?;
                    Ok((Fix::try_from(row)?, session))
                }
            }

            #[::async_trait::async_trait]
            impl ::engine::sessions::SessionStore for $store {
                async fn create_session(
                    &self,
                    who: &Principal,
                    new: NewSession,
                ) -> StoreResult<Session> {
                    match self.create_session_once(who, &new).await {
                        Err(StoreError::Conflict(KEY_TAKEN)) => {
                            // A retry raced us with the same key and won:
                            // answer with its session.
                            let mut tx = self.begin_session_write("reading a session").await?;
                            let key = new.idempotency.as_ref().ok_or(StoreError::NotFound)?;
                            let found = Self::find_key(&mut tx, who, key, CREATE_SCOPE)
                                .await?
                                .ok_or(StoreError::NotFound)?;
                            Self::commit(tx, "ending a read").await?;
                            self.get_session(who, found.session_id.into()).await
                        }
                        other => other,
                    }
                }

                async fn list_sessions(
                    &self,
                    who: &Principal,
                    filter: SessionFilter,
                ) -> StoreResult<Vec<Session>> {
                    let pattern = filter.title_contains.map(|q| {
                        let escaped = q
                            .to_ascii_lowercase()
                            .replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_");
                        format!("%{escaped}%")
                    });
                    ::sqlx::query_as::<_, rows::SessionRow>(sql::LIST_SESSIONS)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(None::<Uuid>)
                        .bind(filter.status.map(|s| s.as_str()))
                        .bind(pattern)
                        .bind(filter.before.map(|b| b.as_uuid()))
                        .bind(i64::from(filter.limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing sessions"))?
                        .into_iter()
                        .map(rows::SessionRow::into_session)
                        .collect()
                }

                async fn get_session(
                    &self,
                    who: &Principal,
                    id: SessionId,
                ) -> StoreResult<Session> {
                    Self::visible_session(&self.pool, who, id)
                        .await?
                        .ok_or(StoreError::NotFound)?
                        .into_session()
                }

                async fn session_view(
                    &self,
                    who: &Principal,
                    id: SessionId,
                ) -> StoreResult<SessionView> {
                    let row = Self::visible_session(&self.pool, who, id)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let task_lane = row.task_lane.0.clone();
                    let session = row.into_session()?;
                    let facts = self.facts_of(who, id).await?;
                    let active_fix = ::sqlx::query_as::<_, rows::FixRow>(sql::ACTIVE_FIX)
                        .bind(who.account_id.as_uuid())
                        .bind(id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading the active fix"))?
                        .map(Fix::try_from)
                        .transpose()?;
                    let branches = if session.is_branching {
                        let mut conn = self
                            .pool
                            .acquire()
                            .await
                            .map_err(|e| db_error(e, "connecting to read branches"))?;
                        Self::tree_in(&mut conn, who.account_id.as_uuid(), id.as_uuid()).await?
                    } else {
                        ::engine::sessions::BranchTree::default()
                    };
                    Ok(SessionView {
                        session,
                        task_lane,
                        facts,
                        active_fix,
                        branches,
                    })
                }

                async fn update_session(
                    &self,
                    who: &Principal,
                    id: SessionId,
                    patch: SessionPatch,
                    expected: Option<i64>,
                ) -> StoreResult<Session> {
                    let mut tx = self
                        .begin_session_write("starting to update a session")
                        .await?;
                    let row = ::sqlx::query_as::<_, rows::SessionRow>(sql::PATCH_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .bind(now())
                        .bind(expected)
                        .bind(patch.title)
                        .bind(patch.status.map(|s| s.as_str()))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "updating a session"))?;
                    let session = match row {
                        Some(row) => row.into_session()?,
                        None => return Err(Self::why_not_updated(&mut tx, who, id).await),
                    };
                    let events =
                        Self::changed(&mut tx, who, &session, "session", id.as_uuid()).await?;
                    self.commit_and_publish(tx, &events, "committing a session update")
                        .await?;
                    Ok(session)
                }

                async fn delete_session(&self, who: &Principal, id: SessionId) -> StoreResult<()> {
                    let deleted = ::sqlx::query(sql::DELETE_SESSION)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(id.as_uuid())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "deleting a session"))?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn list_turns(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    branch: Option<::engine::ids::BranchId>,
                ) -> StoreResult<Vec<Turn>> {
                    self.get_session(who, session).await?;
                    let turns = ::sqlx::query_as::<_, rows::TurnRow>(sql::LIST_TURNS)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(branch.map(|b| b.as_uuid()))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing turns"))?;
                    all(turns)
                }

                async fn turn_context(
                    &self,
                    who: &Principal,
                    id: SessionId,
                    history_limit: u32,
                ) -> StoreResult<TurnContext> {
                    // One connection, no transaction: what a turn may do is
                    // decided again, atomically, when it begins (and under
                    // PostgreSQL's READ COMMITTED a transaction would not
                    // give one snapshot anyway); this only builds the prompt.
                    let mut conn = self
                        .pool
                        .acquire()
                        .await
                        .map_err(|e| db_error(e, "connecting to read a turn's context"))?;
                    let row = Self::visible_session(&mut *conn, who, id)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let task_lane = row.task_lane.0.clone();
                    let session = row.into_session()?;
                    let account = who.account_id.as_uuid();
                    let lane_items: Vec<LaneItem> =
                        all(::sqlx::query_as::<_, rows::LaneItemRow>(sql::LANE_ITEMS)
                            .bind(account)
                            .bind(id.as_uuid())
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "reading task-lane items"))?)?;
                    let fixes: Vec<Fix> =
                        all(::sqlx::query_as::<_, rows::FixRow>(sql::LIST_FIXES)
                            .bind(account)
                            .bind(id.as_uuid())
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "reading the session's fixes"))?)?;
                    let fix_ids = fixes.iter().map(|f| f.id).collect();
                    let active_fix = fixes.into_iter().find(|f| f.superseded_at.is_none());
                    let branches = if session.is_branching {
                        ::engine::sessions::BranchContext {
                            tree: Self::tree_in(&mut conn, account, id.as_uuid()).await?,
                            active: session.active_branch_id,
                        }
                    } else {
                        ::engine::sessions::BranchContext::default()
                    };
                    let history: Vec<HistoryTurn> = match branches.active {
                        Some(active) => {
                            Self::path_history(
                                &mut conn,
                                account,
                                id.as_uuid(),
                                &branches.tree,
                                active,
                                history_limit,
                            )
                            .await?
                        }
                        None => {
                            let mut h: Vec<HistoryTurn> =
                                ::sqlx::query_as::<_, rows::HistoryRow>(sql::HISTORY)
                                    .bind(account)
                                    .bind(id.as_uuid())
                                    .bind(i64::from(history_limit))
                                    .fetch_all(&mut *conn)
                                    .await
                                    .map_err(|e| db_error(e, "reading the conversation"))?
                                    .into_iter()
                                    .map(|r| HistoryTurn {
                                        user_message: r.user_message,
                                        display: r.display,
                                    })
                                    .collect();
                            h.reverse();
                            h
                        }
                    };
                    // Only a session with a full window has folded anything.
                    let summary: String = if history.len() >= history_limit as usize {
                        ::sqlx::query_scalar(sql::HISTORY_SUMMARY)
                            .bind(account)
                            .bind(id.as_uuid())
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(|e| db_error(e, "reading the history summary"))?
                    } else {
                        String::new()
                    };
                    let facts = all(::sqlx::query_as::<_, rows::FactRow>(sql::LIST_FACTS)
                        .bind(account)
                        .bind(id.as_uuid())
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(|e| db_error(e, "reading facts"))?)?;
                    drop(conn);
                    Ok(TurnContext {
                        session,
                        task_lane,
                        lane_items,
                        active_fix,
                        fix_ids,
                        history,
                        summary,
                        facts,
                        branches,
                    })
                }

                async fn begin_turn(
                    &self,
                    who: &Principal,
                    id: SessionId,
                    turn: BeginTurn,
                ) -> StoreResult<BeginOutcome> {
                    let key = turn.idempotency.clone();
                    match self.begin_turn_once(who, id, turn).await {
                        // With a key, losing a race to the same request (its
                        // turn runs, or its key went in first) is a replay.
                        Err(StoreError::Conflict(c))
                            if key.is_some() && (c == KEY_TAKEN || c == TURN_RUNNING) =>
                        {
                            let mut tx = self.begin_session_write("reading a turn").await?;
                            let found = match &key {
                                Some(k) => Self::find_key(&mut tx, who, k, SEND_SCOPE).await?,
                                None => None,
                            };
                            Self::commit(tx, "ending a read").await?;
                            match found.and_then(Self::replayed) {
                                Some(r) => Ok(BeginOutcome::Replay(r)),
                                None => Err(StoreError::Conflict(c)),
                            }
                        }
                        other => other,
                    }
                }

                async fn commit_turn(
                    &self,
                    who: &Principal,
                    c: TurnCommit,
                ) -> StoreResult<TurnCommitted> {
                    let account = who.account_id.as_uuid();
                    let session_id = c.session_id.as_uuid();
                    let turn_id = c.turn_id.as_uuid();
                    let at = now();
                    let mut tx = self.begin_session_write("starting to store a turn").await?;
                    // The session's row first, as in every transaction that
                    // touches a session, so that PostgreSQL writers queue on
                    // it instead of deadlocking on the rows behind it.
                    let mut session =
                        ::sqlx::query_as::<_, rows::SessionRow>(sql::SESSION_AFTER_TURN)
                            .bind(account)
                            .bind(session_id)
                            .bind(c.reply.input_tokens)
                            .bind(c.reply.output_tokens)
                            .bind(1_i64)
                            .bind(Some(Json(&c.task_lane)))
                            .bind(c.problem_summary.clone())
                            .bind(at)
                            .bind(c.reply.history_line.as_deref())
                            .bind(SUMMARY_MAX_CHARS)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "updating the session after a turn"))?
                            .into_session()?;
                    let mut fork = c.fork.clone();
                    let mut task_lane = c.task_lane.clone();
                    if let ::engine::sessions::ForkChange::Create(new_fork) = &c.fork_change {
                        let (stored, after, lane) = Self::apply_fork(
                            &mut tx,
                            who,
                            session,
                            c.turn_id,
                            new_fork,
                            &c.task_lane,
                        )
                        .await?;
                        fork = Some(stored);
                        session = after;
                        task_lane = lane;
                    }
                    let turn = Self::end_turn_row(
                        &mut tx,
                        who,
                        c.session_id,
                        c.turn_id,
                        TurnStatus::Completed,
                        &c.reply,
                        None,
                        fork.as_ref(),
                        Some(&c.task_lane),
                    )
                    .await?;
                    if let Some(line) = &c.branch_line {
                        ::sqlx::query($crate::sessions::branches::APPEND_BRANCH_LINE)
                            .bind(account)
                            .bind(turn_id)
                            .bind(line)
                            .bind(::engine::sessions::BRANCH_SUMMARY_MAX_CHARS)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "updating a branch's summary"))?;
                    }
                    for item in &c.new_lane_items {
                        ::sqlx::query(sql::INSERT_LANE_ITEM)
                            .bind(item.id)
                            .bind(account)
                            .bind(session_id)
                            .bind(item.kind.as_str())
                            .bind(&item.text)
                            .bind(turn_id)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "recording a task-lane item"))?;
                    }
                    let mut facts_added = Vec::with_capacity(c.facts.len());
                    for fact in c.facts {
                        let row =
                            Self::insert_fact(&mut tx, who, c.session_id, Some(c.turn_id), fact)
                                .await?;
                        facts_added.push(Fact::try_from(row)?);
                    }
                    let suggested_fix = match c.fix {
                        FixChange::None => None,
                        FixChange::KeepActive(id) => {
                            let row = ::sqlx::query_as::<_, rows::FixRow>(sql::ACTIVE_FIX)
                                .bind(account)
                                .bind(session_id)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(|e| db_error(e, "reading the active fix"))?;
                            row.filter(|r| r.id == id.as_uuid())
                                .map(Fix::try_from)
                                .transpose()?
                        }
                        FixChange::Supersede(fix) => {
                            ::sqlx::query(sql::SUPERSEDE_ACTIVE_FIX)
                                .bind(account)
                                .bind(session_id)
                                .bind(at)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| db_error(e, "superseding the active fix"))?;
                            let row = ::sqlx::query_as::<_, rows::FixRow>(sql::INSERT_FIX)
                                .bind(FixId::new().as_uuid())
                                .bind(account)
                                .bind(session_id)
                                .bind(turn_id)
                                .bind(&fix.title)
                                .bind(&fix.description)
                                .bind(i32::from(fix.confidence_pct))
                                .bind(fix.script_template_id.map(|t| t.as_uuid()))
                                .bind(&fix.ai_drafted_script)
                                .bind(fix.ai_drafted_parameters.as_ref().map(Json))
                                .bind(at)
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(|e| db_error(e, "inserting a suggested fix"))?;
                            Some(Fix::try_from(row)?)
                        }
                    };
                    if let Some((fix, proposal)) = &c.outcome_proposal {
                        ::sqlx::query(sql::PROPOSE_OUTCOME)
                            .bind(account)
                            .bind(session_id)
                            .bind(fix.as_uuid())
                            .bind(Json(proposal))
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "recording an outcome proposal"))?;
                    }
                    Self::commit(tx, "committing a turn").await?;
                    Ok(TurnCommitted {
                        turn,
                        session,
                        facts_added,
                        suggested_fix,
                        fork,
                        task_lane,
                    })
                }

                async fn end_turn(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    turn: TurnId,
                    status: TurnStatus,
                    reply: ReplyRecord,
                    error: Option<TurnErrorInfo>,
                ) -> StoreResult<(Turn, Session)> {
                    let mut tx = self.begin_session_write("starting to end a turn").await?;
                    // Tokens were paid for even when the turn broke. The session row
                    // first: see `commit_turn`.
                    let after = ::sqlx::query_as::<_, rows::SessionRow>(sql::SESSION_AFTER_TURN)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(reply.input_tokens)
                        .bind(reply.output_tokens)
                        .bind(0_i64)
                        .bind(None::<Json<()>>)
                        .bind(None::<String>)
                        .bind(now())
                        .bind(
                            reply
                                .history_line
                                .as_deref()
                                .filter(|_| status != TurnStatus::Failed),
                        )
                        .bind(SUMMARY_MAX_CHARS)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "updating the session after a turn"))?
                        .into_session()?;
                    let turn = Self::end_turn_row(
                        &mut tx,
                        who,
                        session,
                        turn,
                        status,
                        &reply,
                        error.as_ref(),
                        None,
                        None,
                    )
                    .await?;
                    Self::commit(tx, "committing the end of a turn").await?;
                    Ok((turn, after))
                }

                async fn request_stop(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<TurnId> {
                    let mut tx = self.begin_session_write("starting to stop a turn").await?;
                    let turn: Option<Uuid> = ::sqlx::query_scalar(sql::REQUEST_STOP)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(session.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "asking a turn to stop"))?;
                    let Some(turn) = turn.map(TurnId::from) else {
                        Self::visible_session(&mut *tx, who, session)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        return Err(StoreError::Conflict(NO_TURN_RUNNING));
                    };
                    Self::notify_in_tx(&mut tx, &$crate::events::Wire::stop_payload(turn))
                        .await
                        .map_err(|e| db_error(e, "announcing a stop"))?;
                    Self::commit(tx, "committing a stop").await?;
                    self.published(::engine::events::Notice::Stop { turn_id: turn });
                    Ok(turn)
                }

                async fn renew_lease(
                    &self,
                    turn: TurnId,
                    until_ms: i64,
                ) -> StoreResult<LeaseState> {
                    let stop: Option<bool> = ::sqlx::query_scalar(sql::RENEW_LEASE)
                        .bind(turn.as_uuid())
                        .bind(until_ms)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "renewing a turn's lease"))?;
                    Ok(match stop {
                        Some(stop_requested) => LeaseState::Running { stop_requested },
                        None => LeaseState::Gone,
                    })
                }

                async fn expire_leases(
                    &self,
                    now_ms: i64,
                    why: LostTurn,
                ) -> StoreResult<Vec<ExpiredTurn>> {
                    let sessions: Vec<Uuid> =
                        ::sqlx::query_scalar(sql::SESSIONS_WITH_EXPIRED_TURNS)
                            .bind(now_ms)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(|e| db_error(e, "finding abandoned turns"))?;
                    let mut lost = Vec::new();
                    // One transaction per session, its row locked first.
                    for session in sessions {
                        let mut tx = self
                            .begin_session_write("starting to fail abandoned turns")
                            .await?;
                        ::sqlx::query(sql::LOCK_SESSION)
                            .bind(session)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, "locking a session"))?;
                        let (ended, events) =
                            Self::expire_in_tx(&mut tx, session.into(), now_ms, why).await?;
                        self.commit_and_publish(tx, &events, "committing failed turns")
                            .await?;
                        lost.extend(ended);
                    }
                    Ok(lost)
                }

                async fn branch_tree(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<::engine::sessions::BranchTree> {
                    let mut conn = self
                        .pool
                        .acquire()
                        .await
                        .map_err(|e| db_error(e, "connecting to read branches"))?;
                    Self::visible_session(&mut *conn, who, session)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    Self::tree_in(&mut conn, who.account_id.as_uuid(), session.as_uuid()).await
                }

                async fn switch_branch(
                    &self,
                    who: &Principal,
                    id: SessionId,
                    branch: ::engine::ids::BranchId,
                    expected: Option<i64>,
                ) -> StoreResult<Session> {
                    let account = who.account_id.as_uuid();
                    let mut tx = self
                        .begin_session_write("starting to switch branches")
                        .await?;
                    let session = Self::bump(&mut tx, who, id, expected).await?;
                    let to = Self::branch_of(&mut tx, account, id.as_uuid(), branch.as_uuid())
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    if to.status == ::engine::sessions::BranchStatus::RuledOut.as_str() {
                        return Err(StoreError::Conflict(::engine::sessions::BRANCH_RULED_OUT));
                    }
                    Self::no_running_turn(&mut tx, id.as_uuid()).await?;
                    let lane = Self::lane_of(&mut tx, who, id).await?;
                    let session = Self::move_to(&mut tx, account, &session, &lane, &to).await?;
                    let events =
                        Self::changed(&mut tx, who, &session, "branch", branch.as_uuid()).await?;
                    self.commit_and_publish(tx, &events, "committing a branch switch")
                        .await?;
                    Ok(session)
                }

                async fn update_branch(
                    &self,
                    who: &Principal,
                    branch: ::engine::ids::BranchId,
                    change: ::engine::sessions::BranchChange,
                    expected: Option<i64>,
                ) -> StoreResult<(::engine::sessions::Branch, Session)> {
                    use ::engine::sessions::{
                        BRANCH_NOT_RULED_OUT, BranchChange, BranchStatus, ROOT_BRANCH,
                    };
                    let account = who.account_id.as_uuid();
                    let found = {
                        let mut conn = self
                            .pool
                            .acquire()
                            .await
                            .map_err(|e| db_error(e, "connecting to read a branch"))?;
                        Self::visible_branch(&mut conn, who, branch).await?
                    };
                    let id = SessionId::from(found.session_id);
                    let mut tx = self
                        .begin_session_write("starting to change a branch")
                        .await?;
                    // The session's row first (see `commit_turn`), then the
                    // branch as it is now.
                    let mut session = Self::bump(&mut tx, who, id, expected).await?;
                    let current =
                        Self::branch_of(&mut tx, account, found.session_id, branch.as_uuid())
                            .await?
                            .ok_or(StoreError::NotFound)?;
                    if current.fork_point_id.is_none() {
                        return Err(StoreError::Conflict(ROOT_BRANCH));
                    }
                    let tree = Self::tree_in(&mut tx, account, found.session_id).await?;
                    let (status, evidence, reason, move_to) = match &change {
                        BranchChange::RuleOut { reason } => {
                            // Ruling out the branch the conversation is on (or
                            // an ancestor of it) moves the conversation back
                            // to where that branch forked.
                            let on_it = session
                                .active_branch_id
                                .is_some_and(|a| tree.path(a).iter().any(|(b, _)| *b == branch));
                            let parent = current.parent_branch_id.filter(|_| on_it);
                            (BranchStatus::RuledOut, None, reason.clone(), parent)
                        }
                        BranchChange::Revive { evidence } => {
                            if current.status != BranchStatus::RuledOut.as_str() {
                                return Err(StoreError::Conflict(BRANCH_NOT_RULED_OUT));
                            }
                            (
                                BranchStatus::Revived,
                                Some(evidence.clone()),
                                None,
                                Some(current.id),
                            )
                        }
                        BranchChange::Resolve => (BranchStatus::Resolved, None, None, None),
                    };
                    let row = ::sqlx::query_as::<_, $crate::sessions::branches::BranchRow>(
                        $crate::sessions::branches::SET_BRANCH_STATUS,
                    )
                    .bind(account)
                    .bind(branch.as_uuid())
                    .bind(status.as_str())
                    .bind(evidence)
                    .bind(reason)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| db_error(e, "changing a branch"))?;
                    if let Some(to) = move_to
                        && session.active_branch_id.map(|a| a.as_uuid()) != Some(to)
                    {
                        Self::no_running_turn(&mut tx, found.session_id).await?;
                        let to = Self::branch_of(&mut tx, account, found.session_id, to)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        let lane = Self::lane_of(&mut tx, who, id).await?;
                        session = Self::move_to(&mut tx, account, &session, &lane, &to).await?;
                    }
                    let events =
                        Self::changed(&mut tx, who, &session, "branch", branch.as_uuid()).await?;
                    self.commit_and_publish(tx, &events, "committing a branch change")
                        .await?;
                    Ok((row.try_into()?, session))
                }

                async fn list_facts(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<Vec<Fact>> {
                    self.get_session(who, session).await?;
                    self.facts_of(who, session).await
                }

                async fn create_fact(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    fact: NewFact,
                    expected: Option<i64>,
                ) -> StoreResult<(Fact, Session)> {
                    let mut tx = self.begin_session_write("starting to add a fact").await?;
                    let s = Self::bump(&mut tx, who, session, expected).await?;
                    let row = Self::insert_fact(&mut tx, who, session, None, fact).await?;
                    let events = Self::changed(&mut tx, who, &s, "fact", row.id).await?;
                    self.commit_and_publish(tx, &events, "committing a new fact")
                        .await?;
                    Ok((Fact::try_from(row)?, s))
                }

                async fn update_fact(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    fact: FactId,
                    patch: FactPatch,
                    expected: Option<i64>,
                ) -> StoreResult<(Fact, Session)> {
                    let mut tx = self.begin_session_write("starting to edit a fact").await?;
                    let s = Self::bump(&mut tx, who, session, expected).await?;
                    let row = ::sqlx::query_as::<_, rows::FactRow>(sql::UPDATE_FACT)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(fact.as_uuid())
                        .bind(patch.text)
                        .bind(patch.summary.is_some())
                        .bind(patch.summary.flatten())
                        .bind(now())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "editing a fact"))?
                        .ok_or(StoreError::NotFound)?;
                    let events = Self::changed(&mut tx, who, &s, "fact", row.id).await?;
                    self.commit_and_publish(tx, &events, "committing a fact edit")
                        .await?;
                    Ok((Fact::try_from(row)?, s))
                }

                async fn delete_fact(
                    &self,
                    who: &Principal,
                    session: SessionId,
                    fact: FactId,
                    expected: Option<i64>,
                ) -> StoreResult<Session> {
                    let mut tx = self
                        .begin_session_write("starting to delete a fact")
                        .await?;
                    let s = Self::bump(&mut tx, who, session, expected).await?;
                    let deleted = ::sqlx::query(sql::DELETE_FACT)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(fact.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error(e, "deleting a fact"))?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let events = Self::changed(&mut tx, who, &s, "fact", fact.as_uuid()).await?;
                    self.commit_and_publish(tx, &events, "committing a fact deletion")
                        .await?;
                    Ok(s)
                }

                async fn list_fixes(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<Vec<Fix>> {
                    self.get_session(who, session).await?;
                    let rows = ::sqlx::query_as::<_, rows::FixRow>(sql::LIST_FIXES)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing fixes"))?;
                    all(rows)
                }

                async fn get_fix(&self, who: &Principal, fix: FixId) -> StoreResult<Fix> {
                    ::sqlx::query_as::<_, rows::FixRow>(sql::GET_FIX)
                        .bind(who.account_id.as_uuid())
                        .bind(who.user_id.as_uuid())
                        .bind(fix.as_uuid())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "reading a fix"))?
                        .ok_or(StoreError::NotFound)?
                        .try_into()
                }

                async fn decide_fix(
                    &self,
                    who: &Principal,
                    fix: FixId,
                    decision: FixDecision,
                    note: Option<String>,
                    expected: Option<i64>,
                ) -> StoreResult<(Fix, Session)> {
                    let query = ::sqlx::query_as::<_, rows::FixRow>(sql::DECIDE_FIX)
                        .bind(who.account_id.as_uuid())
                        .bind(fix.as_uuid())
                        .bind(decision.as_str())
                        .bind(note)
                        .bind(now());
                    self.update_fix(who, fix, expected, query).await
                }

                async fn record_fix_outcome(
                    &self,
                    who: &Principal,
                    fix: FixId,
                    outcome: FixOutcome,
                    note: Option<String>,
                    expected: Option<i64>,
                ) -> StoreResult<(Fix, Session)> {
                    let query = ::sqlx::query_as::<_, rows::FixRow>(sql::FIX_OUTCOME)
                        .bind(who.account_id.as_uuid())
                        .bind(fix.as_uuid())
                        .bind(outcome.as_str())
                        .bind(note)
                        .bind(now());
                    self.update_fix(who, fix, expected, query).await
                }

                async fn dismiss_outcome_proposal(
                    &self,
                    who: &Principal,
                    fix: FixId,
                    expected: Option<i64>,
                ) -> StoreResult<(Fix, Session)> {
                    let query = ::sqlx::query_as::<_, rows::FixRow>(sql::DISMISS_PROPOSAL)
                        .bind(who.account_id.as_uuid())
                        .bind(fix.as_uuid())
                        .bind(now());
                    self.update_fix(who, fix, expected, query).await
                }
            }

            impl $store {
                async fn facts_of(
                    &self,
                    who: &Principal,
                    session: SessionId,
                ) -> StoreResult<Vec<Fact>> {
                    let rows = ::sqlx::query_as::<_, rows::FactRow>(sql::LIST_FACTS)
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error(e, "listing facts"))?;
                    all(rows)
                }

                async fn insert_fact(
                    tx: &mut Tx,
                    who: &Principal,
                    session: SessionId,
                    turn: Option<TurnId>,
                    fact: NewFact,
                ) -> StoreResult<rows::FactRow> {
                    ::sqlx::query_as::<_, rows::FactRow>(sql::INSERT_FACT)
                        .bind(FactId::new().as_uuid())
                        .bind(who.account_id.as_uuid())
                        .bind(session.as_uuid())
                        .bind(turn.map(|t| t.as_uuid()))
                        .bind(fact.source_type.as_str())
                        .bind(fact.source_ref.map(|r| r.to_string()))
                        .bind(&fact.text)
                        .bind(&fact.summary)
                        .bind(now())
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "inserting a fact"))
                }

                #[allow(clippy::too_many_arguments)]
                async fn end_turn_row(
                    tx: &mut Tx,
                    who: &Principal,
                    session: SessionId,
                    turn: TurnId,
                    status: TurnStatus,
                    reply: &ReplyRecord,
                    error: Option<&TurnErrorInfo>,
                    fork: Option<&::engine::sessions::ForkRecord>,
                    task_lane: Option<&::engine::sessions::TaskLane>,
                ) -> StoreResult<Turn> {
                    let row = ::sqlx::query_as::<_, rows::TurnRow>(sql::END_TURN)
                        .bind(who.account_id.as_uuid())
                        .bind(turn.as_uuid())
                        .bind(session.as_uuid())
                        .bind(status.as_str())
                        .bind(&reply.display)
                        .bind(&reply.raw_reply)
                        .bind(reply.input_tokens)
                        .bind(reply.output_tokens)
                        .bind(&reply.model)
                        .bind(Json(&reply.timings))
                        .bind(Json(&reply.diagnostics))
                        .bind(error.map(Json))
                        .bind(fork.map(Json))
                        .bind(task_lane.map(Json))
                        .bind(now())
                        .bind(reply.context.map(Json))
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, "storing a turn"))?;
                    // No row: the turn is not running any more (stopped, or
                    // given up on); what it produced is not applied.
                    row.ok_or(StoreError::Conflict(::engine::sessions::TURN_NOT_RUNNING))?
                        .try_into()
                }
            }
        };
    };
}

pub(crate) use impl_sessions_store;
