package kgqa.neo4j;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingValueParsers;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Real Neo4j Community DBMS, in-process, Bolt only, on 127.0.0.1.
 * Usage: Neo4jServer [--home DIR] [--port N]. Environment (all optional):
 *   NEO4J_HOME_DIR (/tmp/kgqa-neo4j), NEO4J_BOLT_PORT (7687), NEO4J_AUTH_ENABLED (true),
 *   NEO4J_PASSWORD (kgqa-test-password; user is always neo4j), NEO4J_PAGECACHE (512m),
 *   NEO4J_TX_TOTAL_MAX (1g; keep it below -Xmx, tx state is on-heap),
 *   NEO4J_TX_TIMEOUT (600s: the server-side ceiling for a transaction that asks for no timeout),
 *   NEO4J_TX_MAX (512m: the memory one transaction may hold),
 *   NEO4J_PROCEDURE_ALLOWLIST (the procedures that are loaded at all; see PROCEDURE_ALLOWLIST).
 * Hardening (issue 14): LOAD CSV may not read file:// URLs, and only the allow-listed
 * procedures are available; kgqa refuses the rest before it runs a query, this is the wall behind it.
 */
public final class Neo4jServer {
    /**
     * The procedures that load: what kgqa and its users need (schema and full-text look-ups). Neo4j
     * applies this to plugin procedures (APOC, GDS...); built-ins such as dbms.listConfig still load,
     * which is why kgqa also checks every exploration query's plan (kg/store/neo4j_plan.py).
     * Keep in sync with docker-compose.yml.
     */
    static final String PROCEDURE_ALLOWLIST = "db.labels,db.relationshipTypes,db.propertyKeys,db.schema.*,"
            + "db.index.fulltext.*,db.awaitIndex,db.awaitIndexes,db.ping";

    public static void main(String[] args) throws Exception {
        String home = env("NEO4J_HOME_DIR", "/tmp/kgqa-neo4j");
        int port = Integer.parseInt(env("NEO4J_BOLT_PORT", "7687"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--home" -> home = args[i + 1];
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        boolean auth = Boolean.parseBoolean(env("NEO4J_AUTH_ENABLED", "true"));
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(Path.of(home))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, auth)
                .setConfig(GraphDatabaseSettings.pagecache_memory,
                        SettingValueParsers.BYTES.parse(env("NEO4J_PAGECACHE", "512m")))
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size,
                        SettingValueParsers.BYTES.parse(env("NEO4J_TX_TOTAL_MAX", "1g")))
                .setConfig(GraphDatabaseSettings.transaction_timeout,
                        SettingValueParsers.DURATION.parse(env("NEO4J_TX_TIMEOUT", "600s")))
                .setConfig(GraphDatabaseSettings.memory_transaction_max_size,
                        SettingValueParsers.BYTES.parse(env("NEO4J_TX_MAX", "512m")))
                .setConfig(GraphDatabaseSettings.allow_file_urls, false)
                .setConfig(GraphDatabaseSettings.procedure_allowlist,
                        java.util.List.of(env("NEO4J_PROCEDURE_ALLOWLIST", PROCEDURE_ALLOWLIST).split(",")))
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                // Bolt waits 5 s per connector for open connections on shutdown; 1 s is plenty here.
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            System.out.println("NEO4J STOPPED");
            stopped.countDown();
        }, "neo4j-shutdown"));

        try {
            awaitReadyAndSetPassword(dbms, auth, port, home);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1); // runs the shutdown hook
        }
        stopped.await();
    }

    private static void awaitReadyAndSetPassword(DatabaseManagementService dbms, boolean auth, int port,
                                                 String home) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        while (!db.isAvailable(Duration.ofSeconds(5).toMillis())) {
            System.out.println("waiting for database " + db.databaseName());
        }
        if (auth) {
            // Embedded API calls bypass auth, so this replaces `neo4j-admin dbms set-initial-password`
            // and also applies a changed NEO4J_PASSWORD to an existing home.
            try {
                system.executeTransactionally(
                        "ALTER USER neo4j SET PLAINTEXT PASSWORD $pw CHANGE NOT REQUIRED",
                        Map.of("pw", env("NEO4J_PASSWORD", "kgqa-test-password")));
            } catch (RuntimeException e) {
                // "Old password and new password cannot be the same." is fine; anything else
                // (e.g. a password shorter than 8 characters) must not leave a stale password.
                if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                    throw e;
                }
            }
        }
        String version = system.executeTransactionally(
                "CALL dbms.components() YIELD versions RETURN versions[0] AS v", Map.of(),
                r -> String.valueOf(r.next().get("v")));
        System.out.println("auth " + (auth ? "enabled, user neo4j" : "disabled") + ", home " + home);
        System.out.println("NEO4J READY bolt://127.0.0.1:" + port + " version=" + version);
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
