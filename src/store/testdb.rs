//! Fresh, empty databases on the database servers the tests run against: one per test,
//! with a random name, dropped when the guard is (also when the test fails). The one
//! maker of them, for the store's own tests and for the gateway suites under `tests/`.
//!
//! Owns: where the servers are (env `KEFU_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432`; `KEFU_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`: a server's URL, without a database), creating and
//! dropping the databases. A server that cannot be reached fails the test that needs it:
//! nothing is skipped. Knows nothing of kefu's schema (opening the store migrates it).
//! Compiled only into builds with a database server backend; not for production use.

use crate::ids::random_token;

/// A database server kind this build can test on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "mysql")]
    Mysql,
}

impl Server {
    /// The variable naming the server's URL.
    pub fn env_var(self) -> &'static str {
        match self {
            #[cfg(feature = "postgres")]
            Server::Postgres => "KEFU_TEST_POSTGRES_URL",
            #[cfg(feature = "mysql")]
            Server::Mysql => "KEFU_TEST_MYSQL_URL",
        }
    }

    fn default_url(self) -> &'static str {
        match self {
            #[cfg(feature = "postgres")]
            Server::Postgres => "postgres://postgres@127.0.0.1:5432",
            #[cfg(feature = "mysql")]
            Server::Mysql => "mysql://root@127.0.0.1:3306",
        }
    }

    /// The server's URL (from its variable, or the default), without a database.
    pub fn url(self) -> String {
        let url = std::env::var(self.env_var()).unwrap_or_else(|_| self.default_url().into());
        url.trim_end_matches('/').to_string()
    }

    /// A database `name` (or the server's administrative one, for `None`) on the server
    /// at `server`: its URL.
    fn database_url(self, server: &str, name: Option<&str>) -> String {
        let (base, query) = match server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (server, String::new()),
        };
        // Any database the variable names is replaced.
        let base = match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
            None => base.to_string(),
        };
        let name = match (self, name) {
            (_, Some(n)) => n,
            #[cfg(feature = "postgres")]
            (Server::Postgres, None) => "postgres",
            #[cfg(feature = "mysql")]
            (Server::Mysql, None) => "",
        };
        format!("{base}/{name}{query}")
    }

    /// Run `sql` on the server's administrative database.
    fn admin(self, server: &str, sql: &str) -> Result<(), String> {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let url = self.database_url(server, None);
        match self {
            #[cfg(feature = "postgres")]
            Server::Postgres => diesel::pg::PgConnection::establish(&url)
                .map_err(|e| e.to_string())?
                .batch_execute(sql)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "mysql")]
            Server::Mysql => diesel::mysql::MysqlConnection::establish(&url)
                .map_err(|e| e.to_string())?
                .batch_execute(sql)
                .map_err(|e| e.to_string()),
        }
    }
}

/// A fresh database; dropping this drops it (after whatever uses it: drop the store
/// first).
#[derive(Debug)]
pub struct TestDb {
    server: Server,
    server_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// A new, empty database on `server`. Panics, naming the variable to set, when the
    /// server cannot be reached.
    pub fn new(server: Server) -> TestDb {
        let server_url = server.url();
        let name = format!("kefu_test_{}", random_token(12).to_lowercase());
        let create = match server {
            #[cfg(feature = "postgres")]
            Server::Postgres => format!("CREATE DATABASE {name}"),
            #[cfg(feature = "mysql")]
            Server::Mysql => {
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
        };
        if let Err(e) = server.admin(&server_url, &create) {
            panic!(
                "the test database server at {server_url} (set {}) cannot create a database: \
                 {e}",
                server.env_var()
            );
        }
        TestDb {
            url: server.database_url(&server_url, Some(&name)),
            server,
            server_url,
            name,
        }
    }

    /// The database's URL, for `store::open` or a server's `database_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn server(&self) -> Server {
        self.server
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop = match self.server {
            // Connections a failed test left open do not keep it.
            #[cfg(feature = "postgres")]
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            #[cfg(feature = "mysql")]
            Server::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        if let Err(e) = self.server.admin(&self.server_url, &drop) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_the_server_and_its_options() {
        #[cfg(feature = "postgres")]
        {
            let s = Server::Postgres;
            assert_eq!(
                s.database_url("postgres://u@h:1/x?sslmode=disable", Some("d")),
                "postgres://u@h:1/d?sslmode=disable"
            );
            assert_eq!(
                s.database_url("postgres://u@h:1", None),
                "postgres://u@h:1/postgres"
            );
        }
        #[cfg(feature = "mysql")]
        assert_eq!(
            Server::Mysql.database_url("mysql://root@h:3306", None),
            "mysql://root@h:3306/"
        );
    }
}
