#!/usr/bin/env python3
"""What docker-compose.yml must contain (issue 8), checked on the output of `docker-compose config`
(the file as Compose understands it: anchors merged, paths absolute, defaults filled in).

    docker-compose -f docker-compose.yml config | tests/docker/check_compose.py ROOT

Prints one line per problem and exits 1 if there is any. Run by tests/docker/check.sh; needs
python3-yaml, which Debian's docker-compose package depends on.
"""
import os
import re
import sys

import yaml

problems = []


def problem(text):
    problems.append(text)


def as_list(value):
    return value if isinstance(value, list) else []


def ports_of(service):
    """(published, target) of each port mapping, both as strings."""
    found = []
    for port in as_list(service.get("ports")):
        if isinstance(port, dict):
            found.append((str(port.get("published", "")), str(port.get("target", ""))))
        else:
            parts = str(port).split(":")
            found.append((parts[-2] if len(parts) > 1 else "", parts[-1].split("/")[0]))
    return found


def volumes_of(service):
    """(source, target, read_only) of each mount."""
    found = []
    for volume in as_list(service.get("volumes")):
        if isinstance(volume, dict):
            found.append((volume.get("source", ""), volume.get("target", ""),
                          bool(volume.get("read_only"))))
        else:
            parts = str(volume).split(":")
            mode = parts[2] if len(parts) > 2 else ""
            found.append((parts[0], parts[1] if len(parts) > 1 else "",
                          "ro" in mode.split(",")))
    return found


def built_from_dockerfile(service, root):
    build = service.get("build")
    if not isinstance(build, dict):
        return False
    context = os.path.realpath(build.get("context", ""))
    dockerfile = build.get("dockerfile", "Dockerfile")
    return (context == os.path.realpath(root)
            and os.path.normpath(dockerfile) == os.path.join("docker", "Dockerfile"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: docker-compose config | check_compose.py ROOT")
    root = sys.argv[1]
    config = yaml.safe_load(sys.stdin)
    services = config.get("services") or {}
    named_volumes = config.get("volumes") or {}

    # PostgreSQL 15 with a named volume and a pg_isready health check.
    postgres = services.get("postgres")
    if postgres is None:
        problem("no service 'postgres'")
        postgres = {}
    if not str(postgres.get("image", "")).startswith("postgres:15"):
        problem(f"postgres: image is '{postgres.get('image')}', expected postgres:15")
    if not any(source in named_volumes and target == "/var/lib/postgresql/data"
               for source, target, _ in volumes_of(postgres)):
        problem("postgres: /var/lib/postgresql/data is not a named volume")
    test = postgres.get("healthcheck", {}).get("test", [])
    if "pg_isready" not in " ".join(test if isinstance(test, list) else [str(test)]):
        problem("postgres: no healthcheck running pg_isready")

    # Every trackd: built from docker/Dockerfile, waits for a healthy database, has DATABASE_URL
    # pointing at it and the rules mounted read-only.
    trackds = {name: s for name, s in services.items() if built_from_dockerfile(s, root)}
    if "trackd" not in trackds:
        problem("no service 'trackd' built from docker/Dockerfile with the repository as context")
    for name, service in trackds.items():
        depends = service.get("depends_on") or {}
        condition = depends.get("postgres", {}).get("condition") if isinstance(depends, dict) else None
        if condition != "service_healthy":
            problem(f"{name}: does not depend on postgres with condition service_healthy")
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None)
                               for item in environment)
        url = environment.get("DATABASE_URL") or ""
        if not re.match(r"^postgres(ql)?://[^/]*@postgres(:5432)?/", url):
            problem(f"{name}: DATABASE_URL '{url}' does not point at the postgres service")
        rules = [v for v in volumes_of(service) if v[1] == "/rules"]
        if not rules:
            problem(f"{name}: ./rules is not mounted at /rules")
        for source, _, read_only in rules:
            if os.path.realpath(source) != os.path.realpath(os.path.join(root, "rules")):
                problem(f"{name}: /rules is mounted from {source}, not ./rules")
            if not read_only:
                problem(f"{name}: /rules is not mounted read-only")
    trackd = services.get("trackd", {})
    if trackd.get("profiles"):
        problem("trackd: belongs to a profile; plain `docker compose up` would not start it")
    if ("8080", "8080") not in ports_of(trackd):
        problem("trackd: port 8080 is not published as 8080")

    # The replicas profile: two more trackd behind a load balancer on 8081, and nothing of it
    # started without the profile.
    in_profile = {name: s for name, s in services.items()
                  if "replicas" in as_list(s.get("profiles"))}
    replicas = sorted(name for name in in_profile if name in trackds)
    balancers = {name: s for name, s in in_profile.items() if name not in trackds}
    if len(replicas) != 2:
        problem(f"profile replicas: {len(replicas)} trackd replicas ({', '.join(replicas)}), expected 2")
    for name in replicas:
        if ports_of(in_profile[name]):
            problem(f"{name}: publishes ports; replicas are reached through the load balancer")
    if len(balancers) != 1:
        problem(f"profile replicas: {len(balancers)} load balancers, expected 1")
    for name, balancer in balancers.items():
        published = ports_of(balancer)
        if not any(p == "8081" for p, _ in published):
            problem(f"{name}: port 8081 is not published")
        depends = balancer.get("depends_on") or {}
        if sorted(depends) != replicas:
            problem(f"{name}: depends on {sorted(depends)}, expected the replicas {replicas}")
        configs = [source for source, target, _ in volumes_of(balancer)
                   if target == "/etc/nginx/nginx.conf"]
        if not configs:
            problem(f"{name}: no nginx.conf mounted at /etc/nginx/nginx.conf")
            continue
        try:
            with open(configs[0], encoding="utf-8") as f:
                nginx = re.sub(r"#[^\n]*", "", f.read())
        except OSError as error:
            problem(f"{name}: cannot read {configs[0]}: {error}")
            continue
        upstreams = sorted(re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):8080\b", nginx, re.M))
        if upstreams != replicas:
            problem(f"{configs[0]}: upstream servers {upstreams} (port 8080) are not the replicas {replicas}")
        listens = re.findall(r"^\s*listen\s+(\d+)\s*;", nginx, re.M)
        targets = [t for p, t in published if p == "8081"]
        if not listens or any(t not in listens for t in targets):
            problem(f"{configs[0]}: listens on {listens}, but {name} publishes 8081 to {targets}")

    for text in problems:
        print(f"docker-compose.yml: {text}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
