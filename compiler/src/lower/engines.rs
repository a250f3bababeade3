//! What Helios knows about each database engine's official image: the one
//! table both targets read (and [`DatabaseKind::port`] and
//! [`DatabaseKind::official_image`] with them), so that a fact of an engine
//! lives in exactly one place.
//!
//! The values are the image's own: where it keeps its data, the port it
//! listens on, the variables its entrypoint reads to create the app's
//! database, user and password, and the command that tells it is ready.

use crate::ir::DatabaseKind;

/// How the official image of one engine is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engine {
    /// The engine this entry is for.
    pub kind: DatabaseKind,
    /// The official image's repository (`postgres`); the tag is the
    /// database's version.
    pub image: &'static str,
    /// The port the engine listens on.
    pub port: u16,
    /// Where the image keeps its data: the data volume is mounted there.
    pub data_path: &'static str,
    /// Where the volume's root is not an empty folder (a Kubernetes volume
    /// holds `lost+found`) and the engine refuses to initialize in it: the
    /// variable that moves the data into a subfolder of
    /// [`data_path`](Self::data_path), and that subfolder's name.
    pub data_subfolder: Option<(&'static str, &'static str)>,
    /// The variable naming the database to create (named after the app),
    /// if the engine has one.
    pub database_env: Option<&'static str>,
    /// The variable naming the user to create (named after the app), if
    /// the engine has users.
    pub user_env: Option<&'static str>,
    /// The variable holding the password (of that user, or of the server).
    pub password_env: &'static str,
    /// Other variables the image is given, with their plain values.
    pub plain_env: &'static [(&'static str, &'static str)],
    /// Arguments replacing the image's command, if any, as a shell word
    /// list; a target escapes them for its own interpolation.
    pub args: Option<&'static [&'static str]>,
    /// The native readiness check, run by `sh -c`: [`USER`] and
    /// [`DATABASE`] in it stand for the user's and the database's names
    /// ([`Engine::health_command`]).
    pub health: &'static str,
}

/// The placeholder of the user's name in [`Engine::health`].
pub const USER: &str = "{user}";

/// The placeholder of the database's name in [`Engine::health`].
pub const DATABASE: &str = "{database}";

impl Engine {
    /// The native readiness check for `user` and `database` (both the
    /// app's name), run by `sh -c`.
    pub fn health_command(&self, user: &str, database: &str) -> String {
        self.health.replace(USER, user).replace(DATABASE, database)
    }

    /// The data folder inside [`data_path`](Self::data_path), with the
    /// variable that points the engine at it, where the volume's root
    /// cannot hold the data itself.
    pub fn data_subfolder_env(&self) -> Option<(&'static str, String)> {
        self.data_subfolder
            .map(|(variable, folder)| (variable, format!("{}/{folder}", self.data_path)))
    }
}

const POSTGRESQL: Engine = Engine {
    kind: DatabaseKind::Postgresql,
    image: "postgres",
    port: 5432,
    data_path: "/var/lib/postgresql/data",
    data_subfolder: Some(("PGDATA", "pgdata")),
    database_env: Some("POSTGRES_DB"),
    user_env: Some("POSTGRES_USER"),
    password_env: "POSTGRES_PASSWORD",
    plain_env: &[],
    args: None,
    health: "pg_isready -U {user} -d {database}",
};

const MYSQL: Engine = Engine {
    kind: DatabaseKind::Mysql,
    image: "mysql",
    port: 3306,
    data_path: "/var/lib/mysql",
    data_subfolder: None,
    database_env: Some("MYSQL_DATABASE"),
    user_env: Some("MYSQL_USER"),
    password_env: "MYSQL_PASSWORD",
    plain_env: &[("MYSQL_RANDOM_ROOT_PASSWORD", "yes")],
    args: None,
    health: "mysqladmin ping -h 127.0.0.1 --silent",
};

const REDIS: Engine = Engine {
    kind: DatabaseKind::Redis,
    image: "redis",
    port: 6379,
    data_path: "/data",
    data_subfolder: None,
    database_env: None,
    user_env: None,
    // redis-cli reads REDISCLI_AUTH; the server reads the same value as
    // configuration on its standard input, so the password is neither in
    // the compiled file nor on a command line (`ps`).
    password_env: "REDISCLI_AUTH",
    plain_env: &[],
    args: Some(&[
        "sh",
        "-c",
        "printf 'appendonly yes\\nrequirepass %s\\n' \"$REDISCLI_AUTH\" | exec redis-server -",
    ]),
    health: "redis-cli ping | grep -q PONG",
};

const MONGODB: Engine = Engine {
    kind: DatabaseKind::Mongodb,
    image: "mongo",
    port: 27017,
    data_path: "/data/db",
    data_subfolder: None,
    database_env: Some("MONGO_INITDB_DATABASE"),
    user_env: Some("MONGO_INITDB_ROOT_USERNAME"),
    password_env: "MONGO_INITDB_ROOT_PASSWORD",
    plain_env: &[],
    args: None,
    health: "mongosh --quiet --eval 'quit(db.adminCommand(\"ping\").ok ? 0 : 1)'",
};

/// The facts of `kind`'s official image.
pub const fn engine(kind: DatabaseKind) -> &'static Engine {
    match kind {
        DatabaseKind::Postgresql => &POSTGRESQL,
        DatabaseKind::Mysql => &MYSQL,
        DatabaseKind::Redis => &REDIS,
        DatabaseKind::Mongodb => &MONGODB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_kind_has_a_complete_entry() {
        let mut images = BTreeSet::new();
        let mut ports = BTreeSet::new();
        for kind in DatabaseKind::ALL {
            let engine = engine(kind);
            assert_eq!(engine.kind, kind);
            assert!(!engine.image.is_empty(), "{kind:?}: no image");
            assert!(images.insert(engine.image), "{kind:?}: image shared");
            assert_ne!(engine.port, 0, "{kind:?}: no port");
            assert!(ports.insert(engine.port), "{kind:?}: port shared");
            assert_eq!(kind.port(), engine.port);
            assert_eq!(kind.official_image(), engine.image);
            assert!(
                engine.data_path.starts_with('/') && !engine.data_path.ends_with('/'),
                "{kind:?}: data path {}",
                engine.data_path
            );
            if let Some((variable, folder)) = engine.data_subfolder {
                assert!(!variable.is_empty() && !folder.is_empty() && !folder.contains('/'));
            }
            // Every variable is named, and no two are the same.
            let mut variables: Vec<&str> = [engine.database_env, engine.user_env]
                .into_iter()
                .flatten()
                .chain([engine.password_env])
                .chain(engine.plain_env.iter().map(|(name, _)| *name))
                .chain(engine.data_subfolder.map(|(name, _)| name))
                .collect();
            assert!(variables.iter().all(|v| {
                !v.is_empty() && v.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            }));
            let count = variables.len();
            variables.sort_unstable();
            variables.dedup();
            assert_eq!(variables.len(), count, "{kind:?}: a variable twice");
            // A user needs its database and the other way round.
            assert_eq!(engine.database_env.is_some(), engine.user_env.is_some());
            assert!(
                !engine.health.trim().is_empty(),
                "{kind:?}: no health check"
            );
            let command = engine.health_command("shop", "shop");
            assert!(!command.contains(USER) && !command.contains(DATABASE));
            if let Some(args) = engine.args {
                assert!(!args.is_empty() && args.iter().all(|a| !a.is_empty()));
            }
        }
        assert_eq!(images.len(), DatabaseKind::ALL.len());
    }

    #[test]
    fn health_commands_name_the_app() {
        assert_eq!(
            engine(DatabaseKind::Postgresql).health_command("shop", "shop"),
            "pg_isready -U shop -d shop"
        );
        assert_eq!(
            engine(DatabaseKind::Postgresql).data_subfolder_env(),
            Some(("PGDATA", "/var/lib/postgresql/data/pgdata".to_string()))
        );
        assert_eq!(engine(DatabaseKind::Mysql).data_subfolder_env(), None);
    }
}
