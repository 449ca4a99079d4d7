#!/usr/bin/env python3
"""What docker-compose.yml must contain (issue 8), checked on the output of `docker-compose config`
(the file as Compose understands it: anchors merged, paths absolute, defaults filled in), on the
file itself where the form matters (how a setting is written), and on docker/nginx.conf:

  - postgres 15 with a named volume and a pg_isready health check;
  - the image built once: one service (trackd) builds docker/Dockerfile from the repository root,
    with pull_policy build or never; every other trackd service runs that image, without build:
    and with pull_policy never (Compose v2 would pull it, or build it once per service);
  - every trackd waits for a healthy postgres, has DATABASE_URL pointing at it, ./rules read-only;
  - every setting of server/common/config.c is passed to every trackd (but TRACKD_LISTEN, which
    the image sets, and TRACKD_TLS_CERT/KEY, on trackd only), from one shared list
    (x-trackd-environment), as ${NAME:-trackd's default} or, without a default, bare (passed only
    when set); the replicas behind nginx have no caps per client address;
  - the replicas profile: two trackd behind one load balancer on 8081 whose nginx.conf names them;
  - nginx's access log holds no key: every access_log names a log_format of ours (not the default
    "combined"), which logs neither $remote_user (the Basic-auth user is the write key) nor the
    path as sent ($request, $request_uri, $uri), but a variable mapped from $request_uri that has
    every identifier of a route's path (the write key of GET /v1/projects/{}/settings, the
    person and device of /api/v1/customers/{}/devices/{}: server/http/http_routes.c) replaced by
    REDACTED, as the map does it when tried here on such a path.

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


def settings_of(root):
    """{name: default or None} of every setting server/common/config.c reads."""
    path = os.path.join(root, "server", "common", "config.c")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = {}
    for name, default in re.findall(
            r'\{\s*"((?:TRACKD_|DATABASE_)[A-Z0-9_]+)",\s*SETTING_[A-Z_]+,\s*(NULL|"[^"]*")', text):
        found[name] = None if default == "NULL" else default[1:-1]
    return found


def environment_of(service):
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, None)
                           for item in environment)
    return environment


# Settings not in the shared list, and values fixed per service instead of passed through.
NOT_PASSED = {
    "TRACKD_LISTEN": "the image sets TRACKD_LISTEN=0.0.0.0:8080, the port published and checked",
}
FIRST_ONLY = ("TRACKD_TLS_CERT", "TRACKD_TLS_KEY")  # the replicas speak plain HTTP to nginx
REPLICA_FIXED = {"TRACKD_MAX_CONNECTIONS_PER_ADDRESS": "0", "TRACKD_MAX_UPLOADS_PER_ADDRESS": "0"}


def check_environment(raw, config_services, trackds, replicas, root):
    """Every setting reaches every trackd service, from one list, in a form that keeps trackd's
    defaults. raw: docker-compose.yml as YAML reads it (anchors and << merged)."""
    try:
        settings = settings_of(root)
    except OSError as error:
        problem(f"cannot read server/common/config.c: {error}")
        return
    if len(settings) < 10 or "TRACKD_LOG_LEVEL" not in settings:
        problem("cannot read the settings table of server/common/config.c; update this check")
        return
    passed = {name: default for name, default in settings.items()
              if name != "DATABASE_URL" and name not in NOT_PASSED}
    shared = raw.get("x-trackd-environment")
    if not isinstance(shared, dict):
        problem("no x-trackd-environment: the settings of the trackd services are not one"
                " shared list")
        shared = {}

    def form(name, default):
        return f"${{{name}:-{default}}}" if default is not None else None

    for name, default in sorted(passed.items()):
        if name in FIRST_ONLY:
            if name in shared:
                problem(f"x-trackd-environment: {name} is for service trackd only (the replicas"
                        " speak plain HTTP to nginx)")
            continue
        if name not in shared:
            problem(f"x-trackd-environment: {name} (server/common/config.c) is not passed")
        elif shared[name] != form(name, default):
            expected = (f"'{form(name, default)}' (trackd's default)" if default is not None
                        else "bare (no value: passed only when set)")
            problem(f"x-trackd-environment: {name} is '{shared[name]}', expected {expected}")
    for name in NOT_PASSED:
        if name in shared:
            problem(f"x-trackd-environment: sets {name}; {NOT_PASSED[name]}")

    raw_services = raw.get("services") or {}
    for service_name in sorted(trackds):
        raw_env = environment_of(raw_services.get(service_name) or {})
        env = environment_of(config_services.get(service_name) or {})
        fixed = REPLICA_FIXED if service_name in replicas else {}
        for name, default in sorted(passed.items()):
            if name in FIRST_ONLY:
                if service_name == "trackd" and (name not in env or raw_env.get(name) is not None):
                    problem(f"trackd: {name} is not passed through (bare, as it is set)")
                elif service_name != "trackd" and name in env:
                    problem(f"{service_name}: sets {name}; nginx speaks plain HTTP to the replicas")
                continue
            if name not in env:
                problem(f"{service_name}: {name} (server/common/config.c) is not passed")
            elif name in fixed:
                if str(env[name]) != fixed[name]:
                    problem(f"{service_name}: {name} is '{env[name]}', expected '{fixed[name]}'"
                            " behind nginx")
            elif name in raw_env and raw_env[name] != shared.get(name, raw_env[name]):
                problem(f"{service_name}: {name} is '{raw_env[name]}', not the shared"
                        f" x-trackd-environment's '{shared.get(name)}'")
        for name in NOT_PASSED:
            if name in env:
                problem(f"{service_name}: sets {name}; {NOT_PASSED[name]}")
        url = raw_env.get("DATABASE_URL")
        if "DATABASE_URL" in shared and url != shared["DATABASE_URL"]:
            problem(f"{service_name}: DATABASE_URL is not the shared x-trackd-environment's")


def nginx_tokens(text):
    """nginx.conf as tokens: words and quoted strings (unquoted), and the characters { } ;."""
    tokens = []
    pattern = re.compile(r"""\s+|\#[^\n]*  # blanks, comments
                             |'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"  # quoted
                             |([{};])|([^\s{};'"\#]+)  # punctuation, words""", re.X)
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if match is None:
            raise ValueError(f"cannot read nginx.conf at offset {position}")
        position = match.end()
        single, double, punctuation, word = match.groups()
        if single is not None:
            tokens.append(("string", single))
        elif double is not None:
            tokens.append(("string", double))
        elif punctuation is not None:
            tokens.append((punctuation, punctuation))
        elif word is not None:
            tokens.append(("string", word))
    return tokens


def nginx_parse(tokens, start=0):
    """[(name, [args], children or None)] from `start` to the closing brace; and where it ended."""
    directives = []
    words = []
    i = start
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "string":
            words.append(value)
        elif kind == ";":
            if words:
                directives.append((words[0], words[1:], None))
            words = []
        elif kind == "{":
            children, i = nginx_parse(tokens, i + 1)
            directives.append((words[0] if words else "", words[1:], children))
            words = []
        elif kind == "}":
            return directives, i
        i += 1
    return directives, i


def nginx_walk(directives):
    for directive in directives:
        yield directive
        if directive[2] is not None:
            yield from nginx_walk(directive[2])


def nginx_map_value(entries, subject):
    """What an nginx map makes of `subject`: exact strings (case-insensitive) first, then the
    regular expressions in order, then default; captures ($1, $name, ${name}) expanded."""
    default = ""
    regexes = []
    for name, args, _ in entries:
        if not args:
            continue
        if name == "default":
            default = args[0]
        elif name.startswith("~"):
            flags = re.I if name.startswith("~*") else 0
            source = name[2:] if name.startswith("~*") else name[1:]
            regexes.append((re.compile(source.replace("(?<", "(?P<").replace("(?P<=", "(?<=")
                                       .replace("(?P<!", "(?<!"), flags), args[0]))
        elif name.lower() == subject.lower():
            return args[0]

    for regex, value in regexes:
        match = regex.search(subject)
        if match is None:
            continue

        def expand(m):
            key = m.group(1) or m.group(2)
            if key.isdigit():
                return match.group(int(key)) or ""
            if key in regex.groupindex:
                return match.group(key) or ""
            return m.group(0)
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", expand, value)
    return default


def check_nginx_log(path, text, root):
    """The access log of nginx.conf holds no key (see the module's docstring)."""
    try:
        directives, _ = nginx_parse(nginx_tokens(text))
    except ValueError as error:
        problem(f"{path}: {error}")
        return
    every = list(nginx_walk(directives))
    formats = {}
    for name, args, _ in every:
        if name == "log_format" and args:
            formats[args[0]] = "".join(a for a in args[1:] if not a.startswith("escape="))
    maps = {args[1].lstrip("$"): (args[0], children or [])
            for name, args, children in every if name == "map" and len(args) == 2}
    access_logs = [args for name, args, _ in every if name == "access_log"]
    if not access_logs:
        problem(f"{path}: no access_log, so nginx logs in its default format 'combined', which"
                " holds $remote_user (the write key) and the path as sent")

    routes_file = os.path.join(root, "server", "http", "http_routes.c")
    try:
        with open(routes_file, encoding="utf-8") as f:
            keyed = re.findall(r'"(/[^"]*\{\}[^"]*)"', f.read())
    except OSError as error:
        problem(f"cannot read {routes_file}: {error}")
        keyed = []
    if not any("/projects/{}" in route for route in keyed):
        problem(f"{routes_file}: no route carries the write key as /projects/{{}}; update this"
                " check")
    # Every identifier of a route's path ({}: a write key, a person's id or email, a device
    # token) stands for a secret or a person: none may reach the log.
    key = "0123456789abcdef0123456789abcdef01234567"
    samples = [route.replace("{}", key) + query for route in keyed for query in ("", "?a=" + key)]

    checked = set()
    for args in access_logs:
        if args and args[0] == "off":
            continue
        fmt = args[1] if len(args) > 1 and "=" not in args[1] else "combined"
        if fmt == "combined" or fmt not in formats:
            problem(f"{path}: access_log {' '.join(args)} uses nginx's format '{fmt}' (with"
                    " $remote_user, the write key, and the path as sent); name a log_format of"
                    " ours")
            continue
        if fmt in checked:
            continue
        checked.add(fmt)
        line = formats[fmt]
        variables = set(re.findall(r"\$\{?(\w+)\}?", line))
        if "remote_user" in variables:
            problem(f"{path}: log_format {fmt} logs $remote_user, the Basic-auth user, which is the"
                    " Pipelines write key")
        for raw_path in ("request", "request_uri", "uri", "document_uri", "http_authorization"):
            if raw_path in variables:
                problem(f"{path}: log_format {fmt} logs ${raw_path}, which holds the write key of"
                        " the settings path (or the key itself); log the redacted path instead")
        redacted = [v for v in variables if v in maps and maps[v][0] == "$request_uri"]
        if not redacted:
            problem(f"{path}: log_format {fmt} logs no path redacted from $request_uri by a map"
                    " (GET /v1/projects/WRITE_KEY/settings must be logged without the key)")
        for variable in redacted:
            for sample in samples:
                value = nginx_map_value(maps[variable][1], sample)
                if key in value or "REDACTED" not in value:
                    problem(f"{path}: map ${variable} makes '{value}' of '{sample}', not the"
                            " path with each identifier replaced by REDACTED")


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

    # The image is built once, by service trackd, from docker/Dockerfile; every other trackd runs
    # that image and neither builds nor pulls it.
    builders = sorted(name for name, s in services.items() if s.get("build"))
    if builders != ["trackd"]:
        problem(f"services {builders} have build:; only trackd should (Compose builds the image"
                " once per service that has it)")
    trackd = services.get("trackd", {})
    if not built_from_dockerfile(trackd, root):
        problem("no service 'trackd' built from docker/Dockerfile with the repository as context")
    image = trackd.get("image")
    if not image:
        problem("trackd: no image: the other trackd services cannot name what it builds")
    if trackd.get("pull_policy") not in ("build", "never"):
        problem(f"trackd: pull_policy is '{trackd.get('pull_policy')}', expected build (or never):"
                f" Compose v2 would first try to pull {image} from a registry")
    trackds = {name: s for name, s in services.items()
               if name == "trackd" or (image and s.get("image") == image)}
    for name, service in trackds.items():
        if name != "trackd" and service.get("pull_policy") != "never":
            problem(f"{name}: pull_policy is '{service.get('pull_policy')}', expected never: it"
                    f" runs the image trackd builds, which no registry has")
    for name, service in trackds.items():
        depends = service.get("depends_on") or {}
        condition = depends.get("postgres", {}).get("condition") if isinstance(depends, dict) else None
        if condition != "service_healthy":
            problem(f"{name}: does not depend on postgres with condition service_healthy")
        url = environment_of(service).get("DATABASE_URL") or ""
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
        with open(configs[0], encoding="utf-8") as f:
            check_nginx_log(configs[0], f.read(), root)

    try:
        with open(os.path.join(root, "docker-compose.yml"), encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as error:
        problem(f"cannot read docker-compose.yml itself: {error}")
        raw = {}
    check_environment(raw, services, trackds, replicas, root)

    for text in problems:
        print(f"docker-compose.yml: {text}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
