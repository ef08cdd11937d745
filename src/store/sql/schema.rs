//! diesel table definitions: one schema for every SQL backend, matching each one's
//! migrations under `diesel-migrations/<backend>/`.
//!
//! Owns: the column names and SQL types. Knows nothing but diesel.

diesel::table! {
    sites (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        secret -> Text,
        allowed_origins -> Text,
        transports -> Text,
        created_at -> BigInt,
        require_identity -> Bool,
    }
}

diesel::table! {
    agents (id) {
        id -> BigInt,
        site_id -> BigInt,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        removed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    visitors (id) {
        id -> BigInt,
        site_id -> BigInt,
        token -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    conversations (id) {
        id -> BigInt,
        site_id -> BigInt,
        visitor_id -> BigInt,
        epoch -> BigInt,
        status -> Text,
        created_at -> BigInt,
        owner_agent_id -> Nullable<BigInt>,
        owner_off -> Nullable<BigInt>,
    }
}

diesel::table! {
    entries (conversation_id, off) {
        conversation_id -> BigInt,
        off -> BigInt,
        kind -> Text,
        role -> Text,
        sender -> Text,
        cid -> Text,
        body -> Text,
        ts -> BigInt,
        meta -> Nullable<Text>,
    }
}

diesel::table! {
    agent_tokens (token_hash) {
        token_hash -> Text,
        agent_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> BigInt,
        site_id -> BigInt,
        shortcut -> Text,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    invite_rules (id) {
        id -> BigInt,
        site_id -> BigInt,
        name -> Text,
        url_pattern -> Text,
        min_seconds -> BigInt,
        min_visits -> BigInt,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    nodes (id) {
        id -> Text,
        url -> Text,
        incarnation -> Text,
        started_at -> BigInt,
        beat_at -> BigInt,
    }
}

diesel::table! {
    site_leases (site_id) {
        site_id -> BigInt,
        node_id -> Text,
        epoch -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        site_id -> BigInt,
        url -> Text,
        secret -> Text,
        events -> Text,
        paused -> Bool,
        created_at -> BigInt,
        last_ok_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        conversation_id -> BigInt,
        off -> BigInt,
        event -> Text,
        created_at -> BigInt,
        attempts -> BigInt,
        state -> Text,
        next_at -> Nullable<BigInt>,
        last_status -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(agents -> sites (site_id));
diesel::joinable!(agent_tokens -> agents (agent_id));
diesel::joinable!(visitors -> sites (site_id));
diesel::joinable!(conversations -> visitors (visitor_id));
diesel::joinable!(entries -> conversations (conversation_id));
diesel::joinable!(webhooks -> sites (site_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_deliveries -> conversations (conversation_id));

diesel::allow_tables_to_appear_in_same_query!(
    sites,
    agents,
    agent_tokens,
    visitors,
    conversations,
    entries,
    canned_responses,
    invite_rules,
    nodes,
    site_leases,
    webhooks,
    webhook_deliveries
);
