#!/usr/bin/env bash
# Build the in-process Neo4j server: target/classes + target/dependency/*.jar.
# Idempotent: does nothing when pom.xml and src/ are unchanged since the last build
# (pass --force to rebuild anyway). Uses Maven's default local repo (~/.m2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$NEO4J_TOOL_DIR"

JAVA_HOME="$(kgqa_neo4j_java_home)"
export JAVA_HOME
stamp=target/.build-stamp
hash="$(kgqa_neo4j_build_hash "$JAVA_HOME")"
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] \
        && [ -f target/classes/kgqa/neo4j/Neo4jServer.class ] && [ -d target/dependency ]; then
    echo "neo4j tool: up to date"
    exit 0
fi
# Stale jars from an older neo4j.version would end up on the classpath, so start clean.
rm -rf target/dependency "$stamp"
# Maven 3.8's bundled guava touches sun.misc.Unsafe; silence the JDK 24+ warning (Java 17 knows no such flag).
# Maven 3.8 -q also prints stray ANSI resets; strip them from what we show.
if ! out="$(MAVEN_OPTS="${MAVEN_OPTS:-} $(kgqa_neo4j_new_jdk_flags "$JAVA_HOME")" mvn -q -B package 2>&1)"; then
    printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2
    echo "neo4j tool: mvn package failed" >&2
    exit 1
fi
out="$(printf '%s' "$out" | sed 's/\x1b\[[0-9;]*m//g')"
[ -z "$out" ] || printf '%s\n' "$out" >&2
echo "$hash" > "$stamp"
echo "neo4j tool: built Neo4j $(ls target/dependency | sed -n 's/^neo4j-kernel-\([0-9.]*\)\.jar$/\1/p')" \
     "($(ls target/dependency | wc -l) jars, JAVA_HOME=$JAVA_HOME)"
