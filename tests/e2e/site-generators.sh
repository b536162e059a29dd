#!/usr/bin/env bash
# The README's blog snippets, built by the real site generators and read in
# a real browser.
#
#   Chromium -> nginx (examples/nginx/http.conf + location.conf, one server
#               per built site, its root the generator's output)
#            -> FastCGI on a unix socket -> mastodon-comments
#               (socket-activated by systemd-socket-activate)
#            -> stand-in Mastodon (fixture scenario a-simple-thread)
#
# Each snippet is taken from README.md ("Showing the comments on your
# blog"), where a marker line `<!-- snippet NAME: ... -->` stands before its
# fenced block; every fenced block of that section must have one, and every
# NAME must be one this test builds (or the marker says "untested", which
# the README then says in words). So the README cannot hold a snippet no
# test builds, and the test builds the README's text, not a copy.
#
# Sites, each with the article /2026/07/01/slow-bread (announced by the
# stand-in's thread as .../slow-bread/; the .html path is given to the
# daemon in the config's "roots"):
#   html          a hand-written page at /2026/07/01/slow-bread/ with the plain snippet;
#   hugo-pretty   Hugo, pretty URLs (/2026/07/01/slow-bread/), the Hugo snippet in
#                 layouts/_default/single.html;
#   hugo-html     the same with uglyURLs = true (/2026/07/01/slow-bread.html);
#   jekyll-pretty Jekyll, permalink: pretty, the Jekyll snippet in _layouts/post.html;
#   jekyll-html   Jekyll's default permalinks (/2026/07/01/slow-bread.html);
#   eleventy-pretty  Eleventy (npm, tests/site-generators/), the Eleventy config
#                 snippet as eleventy.config.js, its layout snippet in _includes/post.njk;
#   eleventy-html the same with a permalink ending in .html.
#
# Checks: the README's markers (above); each generator builds its site; the built page holds the snippet's
# element; then in headless Chromium (tests/browser/site-pages.mjs) each
# article page loads, its data-src is the article's path + /comments.json,
# the script fetches it through nginx (200) and renders the thread's 5
# comments under a "Comments" heading with the style sheet applied, and no
# file of the site is missing; the daemon answered both the pretty and the
# .html path.
#
# Needs: root (nginx master, unshare), nginx, hugo, jekyll, curl, python3,
# systemd-socket-activate, Node.js 20 with the node_modules of tests/browser
# and tests/site-generators (scripts/deps), /usr/bin/chromium, the built
# binary (MC_BIN). Takes 30 to 50 seconds (seven builds, seven pages).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
README=$ROOT/README.md
BROWSER_DIR=$ROOT/tests/browser
ELEVENTY=$ROOT/tests/site-generators/node_modules/.bin/eleventy

. "$ROOT/tests/e2e/lib.sh"

NGINX_PID=
stop_server() { stop "$NGINX_PID" QUIT; }
begin_web_suite site-generators "nginx master and unshare" nginx hugo jekyll node
[ -d "$BROWSER_DIR/node_modules/playwright-core" ] \
    || { bad "no playwright-core in $BROWSER_DIR/node_modules: run scripts/deps (or npm ci there)"; exit 1; }
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] \
    || { bad "the browser check needs Node.js 20 or newer, found $(node --version)"; exit 1; }
[ -x "$ELEVENTY" ] || { bad "no $ELEVENTY: run scripts/deps (or npm ci in tests/site-generators)"; exit 1; }
CHROMIUM=${MC_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { bad "Chromium not found at $CHROMIUM (apt-get install chromium, or set MC_CHROMIUM)"; exit 1; }

BUILT="html hugo jekyll eleventy-config eleventy"
HTML_ARTICLE=$ARTICLE.html

# --- the snippets, from the README ----------------------------------------------
# The fenced blocks of the section and their markers, checked as described above.
awk '
    /^## / { inside = ($0 == "## Showing the comments on your blog") }
    !inside { next }
    /^```/ && !fence { fence = 1; if (prev !~ /^<!-- snippet [a-z0-9-]+:/) print "unmarked block at line " NR; next }
    /^```/ && fence { fence = 0; next }
    { prev = $0 }
' "$README" >"$TMP/unmarked"
if [ -s "$TMP/unmarked" ]; then
    bad "README.md: a fenced block in \"Showing the comments on your blog\" without a <!-- snippet NAME: ... --> marker: $(tr '\n' ' ' <"$TMP/unmarked")"
else
    ok "README.md: every fenced block in \"Showing the comments on your blog\" has a snippet marker"
fi
while read -r name rest; do
    if [[ " $BUILT " == *" $name "* ]]; then
        ok "README.md: snippet '$name' is built by this test"
    elif [[ $rest == untested* ]]; then
        ok "README.md: snippet '$name' is marked untested"
    else
        bad "README.md: snippet '$name' is neither built by this test nor marked untested"
    fi
done < <(sed -n 's/^<!-- snippet \([a-z0-9-]*\): \(.*\) -->$/\1 \2/p' "$README")
snippet() { # name -> the fenced block after its marker, on stdout
    awk -v m="<!-- snippet $1:" '
        index($0, m) == 1 { want = 1; next }
        want && /^```/ && !fence { fence = 1; next }
        fence && /^```/ { exit }
        fence { print }
    ' "$README"
}
for name in $BUILT; do
    snippet "$name" >"$TMP/snippet-$name.html"
    want='class="mastodon-comments"'
    if [ "$name" = eleventy-config ]; then want=addPassthroughCopy; fi
    if [ -s "$TMP/snippet-$name.html" ] && grep -q "$want" "$TMP/snippet-$name.html"; then
        ok "README.md: the $name snippet ($(wc -l <"$TMP/snippet-$name.html") lines)"
    else
        bad "README.md: no $name snippet holding '$want' after its marker"
    fi
done

# A page around a snippet: the generator's title and content, then the snippet.
page() { # title-expression content-expression snippet-file
    printf '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>%s</title></head>\n<body>\n<article><h1>%s</h1>\n%s\n</article>\n' "$1" "$1" "$2"
    cat "$3"
    printf '</body>\n</html>\n'
}
built() { # name, the built article file
    if [ -f "$2" ] && grep -q 'class="mastodon-comments"' "$2" && grep -q 'An article' "$2"; then
        ok "$1: built ${2#"$TMP"/} with the comments element"
    else
        bad "$1: no ${2#"$TMP"/} with the article and the comments element"
        find "$TMP/$1" -name '*.html' >&2 || true
    fi
}

# --- the sites --------------------------------------------------------------------
# Plain HTML: the page at the article's pretty URL (data-src "comments.json" is relative).
mkdir -p "$TMP/html/2026/07/01/slow-bread"
cp "$ROOT/web/mastodon-comments.js" "$ROOT/web/mastodon-comments.css" "$TMP/html/"
page "Slow bread" "<p>An article</p>" "$TMP/snippet-html.html" >"$TMP/html/2026/07/01/slow-bread/index.html"
built html "$TMP/html/2026/07/01/slow-bread/index.html"

# Hugo: both files in static/, the snippet in layouts/_default/single.html.
src=$TMP/hugo-src
mkdir -p "$src/content/posts" "$src/layouts/_default" "$src/static"
cp "$ROOT/web/mastodon-comments.js" "$ROOT/web/mastodon-comments.css" "$src/static/"
cat >"$src/hugo.toml" <<'EOF'
baseURL = "https://blog.example.org/"
title = "A blog"
disableKinds = ["taxonomy", "term", "RSS", "sitemap"]
[permalinks]
posts = "/:year/:month/:day/:slug/"
EOF
printf 'uglyURLs = true\n' >"$src/ugly.toml"
printf -- '---\ntitle: Slow bread\ndate: 2026-07-01T10:00:00Z\nslug: slow-bread\n---\nAn article\n' >"$src/content/posts/slow-bread.md"
page "{{ .Title }}" "{{ .Content }}" "$TMP/snippet-hugo.html" >"$src/layouts/_default/single.html"
hugo_build() { # name, config files, the article file it must write
    if (cd "$src" && timeout 60 hugo --quiet --buildFuture --config "$2" -d "$TMP/$1") >"$TMP/$1-build.out" 2>&1; then
        ok "$1: $(hugo version | cut -d' ' -f2) builds the site"
    else
        bad "$1: hugo failed: $(tail -5 "$TMP/$1-build.out")"
    fi
    built "$1" "$TMP/$1/$3"
}
hugo_build hugo-pretty hugo.toml 2026/07/01/slow-bread/index.html
hugo_build hugo-html hugo.toml,ugly.toml 2026/07/01/slow-bread.html

# Jekyll: both files at the site root, the snippet in _layouts/post.html.
src=$TMP/jekyll-src
mkdir -p "$src/_posts" "$src/_layouts"
cp "$ROOT/web/mastodon-comments.js" "$ROOT/web/mastodon-comments.css" "$src/"
printf 'title: A blog\nfuture: true\n' >"$src/_config.yml"
printf 'permalink: pretty\n' >"$src/_pretty.yml"
printf -- '---\nlayout: post\ntitle: Slow bread\ndate: 2026-07-01 10:00:00 +0000\n---\nAn article\n' >"$src/_posts/2026-07-01-slow-bread.md"
page "{{ page.title }}" "{{ content }}" "$TMP/snippet-jekyll.html" >"$src/_layouts/post.html"
jekyll_build() { # name, config files, the article file it must write
    if (cd "$src" && timeout 60 jekyll build --quiet --disable-disk-cache --config "$2" -d "$TMP/$1") >"$TMP/$1-build.out" 2>&1; then
        ok "$1: $(jekyll --version) builds the site"
    else
        bad "$1: jekyll failed: $(tail -5 "$TMP/$1-build.out")"
    fi
    built "$1" "$TMP/$1/$3"
}
jekyll_build jekyll-pretty _config.yml,_pretty.yml 2026/07/01/slow-bread/index.html
jekyll_build jekyll-html _config.yml 2026/07/01/slow-bread.html

# Eleventy: both files next to the content, copied by the config snippet; the
# layout snippet in _includes/post.njk; for .html URLs a permalink in the
# directory's data file.
src=$TMP/eleventy-src
mkdir -p "$src/_includes" "$src/2026/07/01"
cp "$ROOT/web/mastodon-comments.js" "$ROOT/web/mastodon-comments.css" "$src/"
cp "$TMP/snippet-eleventy-config.html" "$src/eleventy.config.js"
printf -- '---\nlayout: post.njk\ntitle: Slow bread\n---\nAn article\n' >"$src/2026/07/01/slow-bread.md"
page "{{ title }}" "{{ content | safe }}" "$TMP/snippet-eleventy.html" >"$src/_includes/post.njk"
eleventy_build() { # name, the article file it must write
    if (cd "$src" && timeout 60 "$ELEVENTY" --quiet --output="$TMP/$1") >"$TMP/$1-build.out" 2>&1; then
        ok "$1: Eleventy $("$ELEVENTY" --version) builds the site"
    else
        bad "$1: eleventy failed: $(tail -5 "$TMP/$1-build.out")"
    fi
    built "$1" "$TMP/$1/$2"
}
eleventy_build eleventy-pretty 2026/07/01/slow-bread/index.html
printf '{"permalink": "{{ page.filePathStem }}.html"}\n' >"$src/2026/2026.11tydata.json"
eleventy_build eleventy-html 2026/07/01/slow-bread.html

# --- the daemon, nginx -------------------------------------------------------------
mkdir -p "$TMP/run" "$TMP/cache" "$TMP/log" "$TMP/state"
write_config "$TMP/config.json" "$(roots_member "$HTML_ARTICLE")"
SOCK=$TMP/run/mastodon-comments.sock
NGINX_USER=
if id www-data >/dev/null 2>&1; then NGINX_USER=www-data; fi
SOCKET_USER=$NGINX_USER
start_daemon "$TMP/daemon.log"

SITES="html hugo-pretty hugo-html jekyll-pretty jekyll-html eleventy-pretty eleventy-html"
ln -s /etc/nginx/fastcgi_params "$TMP/fastcgi_params"
choose_nginx_examples "$ROOT/examples/nginx"
servers=
declare -A SITE_PORT
for site in $SITES; do
    SITE_PORT[$site]=$(free_port)
    servers+="
    server {
        listen 127.0.0.1:${SITE_PORT[$site]};
        server_name blog.example.org;
        root $TMP/$site;
        include $INCLUDE_LOCATION;
    }"
done
cat >"$TMP/nginx.conf" <<EOF
${NGINX_USER:+user $NGINX_USER $NGINX_USER;}
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log info;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log $TMP/access.log;
    client_body_temp_path $TMP/client_body;
    fastcgi_temp_path $TMP/fastcgi_temp;
    proxy_temp_path $TMP/proxy_temp;
    scgi_temp_path $TMP/scgi_temp;
    uwsgi_temp_path $TMP/uwsgi_temp;

    include $INCLUDE_HTTP;
$servers
}
EOF
PRIVATE_LOG_DIR=/var/log/nginx run_server \
    nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/error.log" -g "daemon off;" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
SERVER_PORT=${SITE_PORT[html]}
expect_started nginx "the example configuration included ($([ $NAMESPACE = yes ] && echo unchanged || echo rewritten copies)), one server per site"

# --- the pages in Chromium -----------------------------------------------------------
pages=()
for site in $SITES; do
    case $site in
        *-html) path=$HTML_ARTICLE ;;
        *) path=$ARTICLE/ ;;
    esac
    pages+=("$site=http://127.0.0.1:${SITE_PORT[$site]}$path=${path%/}/comments.json")
done
set +e
(cd "$BROWSER_DIR" && MC_CHROMIUM=$CHROMIUM PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    timeout --kill-after=10 90 node site-pages.mjs 5 "${pages[@]}") >"$TMP/browser.txt" 2>&1
rc=$?
set -e
cat "$TMP/browser.txt"
PASS=$((PASS + $(grep -c '^ok ' "$TMP/browser.txt" || true)))
FAIL=$((FAIL + $(grep -c '^FAIL ' "$TMP/browser.txt" || true)))
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$TMP/browser.txt"; then
    bad "the browser check ended with status $rc and no failed check (see above)"
fi

# --- the daemon answered both kinds of path -----------------------------------------
expect "the daemon answered the pretty path $ARTICLE (200)" yes "$([ "$(served "$TMP/daemon.log" "$ARTICLE" 200)" -ge 1 ] && echo yes || echo no)"
expect "the daemon answered the .html path $HTML_ARTICLE (200)" yes "$([ "$(served "$TMP/daemon.log" "$HTML_ARTICLE" 200)" -ge 1 ] && echo yes || echo no)"
