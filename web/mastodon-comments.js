/*! mastodon-comments.js — show the Mastodon replies to a blog post as comments.
 *  Part of mastodon-comments. SPDX-License-Identifier: AGPL-3.0-or-later
 *
 * No dependencies, no build step. Put this on the article page:
 *
 *   <link rel="stylesheet" href="/mastodon-comments.css">
 *   <div class="mastodon-comments" data-src="/2018/12/01/post/comments.json"></div>
 *   <script src="/mastodon-comments.js" defer></script>
 *
 * Every element with the class "mastodon-comments" and a data-src attribute is
 * filled in once the page has loaded. Options, as data- attributes on that element:
 *
 *   data-src            (required) URL of the daemon's JSON answer for this article,
 *                       e.g. "comments.json" relative to an article URL ending in "/".
 *   data-author-url     the blog author's Mastodon profile URL
 *                       (e.g. "https://mastodon.example/@nadia"). The author's own
 *                       replies are marked "Author". Default: derived from the URL of
 *                       the announcement post (everything before its last "/").
 *   data-heading        heading text. Default "Comments".
 *   data-heading-level  2 to 6: the heading element (h2 … h6). Default 2.
 *   data-avatars        "off": do not show avatars.
 *   data-media          "link": show attachments as text links instead of thumbnails;
 *                       "off": leave them out.
 *   data-emoji          "off": show custom emoji as their :shortcode: text instead of
 *                       images. With data-avatars="off" and data-media="link" (or
 *                       "off") as well, the page loads no image from other servers.
 *   data-max-indent     nesting depth after which replies stop being indented
 *                       (still nested in the markup). Default 5.
 *
 * While it works, the element carries data-mc-state="loading", then "done" or
 * "error" (for styling, and for tests). For pages that add the element later:
 * MastodonComments.load(element).
 *
 * What it renders (class names are listed at the top of mastodon-comments.css):
 * a <section aria-labelledby> with a heading, a stats line linking to the
 * announcement post, the threaded replies as nested <ol> lists (oldest first at
 * each level; a reply whose parent is not in the answer goes to the top level),
 * each <li> carrying data-comment-id="<status id>", a "Reply on Mastodon" link
 * and a note on how to reply from any instance.
 *
 * Security: strings from the answer are inserted only as text (textContent,
 * setAttribute with URLs checked to be absolute http(s)), except the HTML fields
 * toot, display_name and spoiler_text, which the daemon sanitizes. Those are
 * parsed in an inert <template> and rebuilt element by element from an
 * allow-list (toot: Mastodon's own tags; display_name and spoiler_text: text
 * and custom emoji only; <img> only as class="emoji"), so this script stays
 * safe with an answer from an older or compromised server. Maps keyed by
 * answer strings have no prototype, so ids or types like "__proto__" are
 * plain keys. Sensitive thumbnails get their src only when the reader asks.
 * The fetch sends no cookies (credentials: 'omit').
 * It also accepts the Go original's answer (no acct, bot, edited, spoiler_text,
 * sensitive, media, favs, reblogs, withheld or stale fields).
 */
(function () {
  'use strict';

  var TEXT = {
    heading: 'Comments',
    loading: 'Loading comments…',
    error: 'Comments could not be loaded right now.',
    notAnnounced: 'This article has not been announced on Mastodon yet.',
    noReplies: 'No replies yet.',
    reply: 'Reply on Mastodon',
    replyNote: 'With an account on any Mastodon or fediverse server: copy the address of the post ' +
      'into the search box of your own server, open the post there and reply. Public replies appear here.',
    copy: 'Copy address',
    copied: 'Copied',
    edited: 'edited',
    permalink: 'link',
    inReplyTo: '↳ in reply to ',
    quoting: 'Quoting ',
    bot: 'bot',
    author: 'Author',
    cwHint: 'Content warning',
    sensitive: 'Sensitive media: show',
    noDescription: ' (no description)',
    favourite: ['favourite', 'favourites'],
    boost: ['boost', 'boosts'],
    stale: 'These comments may be out of date.',
    avatarOf: 'Avatar of ',
    attachment: { image: 'Image', video: 'Video', gifv: 'Animation', audio: 'Audio', unknown: 'Attachment' }
  };

  var AVATAR_SIZE = 48;
  var THUMB_W = 160;
  var THUMB_H = 120;
  var FETCH_TIMEOUT_MS = 15000;

  // Mastodon's tag allow-list (plus a few harmless inline tags it also allows).
  var ALLOWED_TAGS = {
    P: 1, BR: 1, A: 1, SPAN: 1, UL: 1, OL: 1, LI: 1, BLOCKQUOTE: 1, CODE: 1, PRE: 1,
    EM: 1, STRONG: 1, B: 1, I: 1, DEL: 1, S: 1, U: 1, RUBY: 1, RT: 1, RP: 1, IMG: 1
  };
  // Elements dropped together with everything inside them; other unknown
  // elements are replaced by their (sanitized) content.
  var DROP_TAGS = {
    SCRIPT: 1, STYLE: 1, TEMPLATE: 1, IFRAME: 1, FRAME: 1, FRAMESET: 1, OBJECT: 1, EMBED: 1,
    NOSCRIPT: 1, NOEMBED: 1, NOFRAMES: 1, SVG: 1, MATH: 1, TEXTAREA: 1, SELECT: 1, OPTION: 1,
    TITLE: 1, HEAD: 1, META: 1, LINK: 1, BASE: 1, XMP: 1, PLAINTEXT: 1, CANVAS: 1, AUDIO: 1,
    VIDEO: 1, PICTURE: 1, SOURCE: 1, TRACK: 1, MAP: 1, AREA: 1, APPLET: 1, PARAM: 1, DIALOG: 1
  };
  var CLASS_PREFIXES = ['h-', 'p-', 'u-', 'dt-', 'e-'];
  var CLASS_NAMES = { mention: 1, hashtag: 1, ellipsis: 1, invisible: 1, 'quote-inline': 1 };

  var headingCounter = 0;
  var hasOwn = Object.prototype.hasOwnProperty;

  function has(obj, key) {
    return hasOwn.call(obj, key);
  }

  // -------------------------------------------------------------- utilities

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  function str(v) {
    return typeof v === 'string' ? v : '';
  }

  function num(v) {
    return typeof v === 'number' && isFinite(v) && v >= 0 ? Math.floor(v) : 0;
  }

  // An absolute http(s) URL, normalised by the URL parser, or null. A URL
  // with raw quotes, angle brackets, backticks or white space is refused:
  // the daemon percent-encodes those, so such a string is an attack.
  function safeUrl(v) {
    if (typeof v !== 'string' || v === '' || /[\s"'<>`\\]/.test(v)) return null;
    var u;
    try {
      u = new URL(v);
    } catch (e) {
      return null;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    if (u.username || u.password) return null;
    return u.href;
  }

  // The daemon sends plain-text fields (acct, media descriptions) HTML-escaped;
  // the Go original never sent them. Decode character references without parsing any markup: a
  // <textarea> holds raw text, so its fragment parser only decodes entities.
  function decodeEntities(s) {
    if (typeof s !== 'string' || s.indexOf('&') < 0) return str(s);
    var ta = document.createElement('textarea');
    ta.innerHTML = s;
    return ta.value;
  }

  function filteredClasses(node) {
    var raw = node.getAttribute('class');
    if (!raw) return '';
    return raw.split(/\s+/).filter(function (c) {
      if (CLASS_NAMES[c] === 1) return true;
      for (var i = 0; i < CLASS_PREFIXES.length; i++) {
        if (c.indexOf(CLASS_PREFIXES[i]) === 0 && /^[a-z0-9-]+$/.test(c)) return true;
      }
      return false;
    }).join(' ');
  }

  // Parse an HTML field in an inert <template> and rebuild it from the
  // allow-list into a fresh fragment. Nothing of the parsed tree is reused.
  // mode.inline: text and custom emoji only (names, content warnings: they sit
  // inside a link or a <summary>); mode.emoji === false: emoji as their text.
  function sanitize(html, mode) {
    var out = document.createDocumentFragment();
    if (typeof html !== 'string' || html === '') return out;
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    copyChildren(tpl.content, out, 0, mode || {});
    return out;
  }

  var INLINE_BREAKS = { P: 1, BR: 1, LI: 1, BLOCKQUOTE: 1, PRE: 1, UL: 1, OL: 1 };

  function copyChildren(from, to, depth, mode) {
    for (var n = from.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 3) {
        to.appendChild(document.createTextNode(n.nodeValue));
      } else if (n.nodeType === 1) {
        copyElement(n, to, depth, mode);
      }
    }
  }

  function copyElement(n, to, depth, mode) {
    var tag = n.tagName.toUpperCase();
    if (n.namespaceURI !== 'http://www.w3.org/1999/xhtml' || DROP_TAGS[tag] === 1) return;
    if (depth > 40) {
      to.appendChild(document.createTextNode(n.textContent));
      return;
    }
    if (ALLOWED_TAGS[tag] !== 1 || (mode.inline && tag !== 'IMG')) {
      copyChildren(n, to, depth + 1, mode);
      // Keep words apart where a block or line break is flattened.
      if (mode.inline && INLINE_BREAKS[tag] === 1 && n.nextSibling) to.appendChild(document.createTextNode(' '));
      return;
    }
    if (tag === 'IMG') {
      var src = safeUrl(n.getAttribute('src'));
      var isEmoji = (' ' + (n.getAttribute('class') || '') + ' ').indexOf(' emoji ') >= 0;
      var alt = str(n.getAttribute('alt'));
      if (!isEmoji || !src || mode.emoji === false) {
        if (alt) to.appendChild(document.createTextNode(alt));
        return;
      }
      var img = document.createElement('img');
      img.className = 'emoji mc-emoji';
      img.setAttribute('src', src);
      img.setAttribute('alt', alt);
      if (alt) img.setAttribute('title', alt);
      img.setAttribute('width', '20');
      img.setAttribute('height', '20');
      img.setAttribute('loading', 'lazy');
      img.setAttribute('decoding', 'async');
      img.setAttribute('referrerpolicy', 'no-referrer');
      img.setAttribute('draggable', 'false');
      to.appendChild(img);
      return;
    }
    var e = document.createElement(tag.toLowerCase());
    var cls = filteredClasses(n);
    if (cls) e.className = cls;
    if (tag === 'A') {
      var href = safeUrl(n.getAttribute('href'));
      if (href) {
        e.setAttribute('href', href);
        e.setAttribute('rel', 'nofollow noopener noreferrer ugc');
      }
    }
    copyChildren(n, e, depth + 1, mode);
    to.appendChild(e);
  }

  // The text of a rendered name or warning, with custom emoji as their alt text
  // (for labels: an avatar's alt, "in reply to").
  function labelText(node) {
    var s = '';
    (function walk(n) {
      for (var c = n.firstChild; c; c = c.nextSibling) {
        if (c.nodeType === 3) s += c.nodeValue;
        else if (c.nodeType === 1 && c.tagName === 'IMG') s += c.getAttribute('alt') || '';
        else if (c.nodeType === 1) walk(c);
      }
    })(node);
    return s.replace(/\s+/g, ' ').trim();
  }

  // Non-empty: some text, or a custom emoji image.
  function hasContent(node) {
    return node.textContent.trim() !== '' || !!node.querySelector('img');
  }

  // A count with an accessible name: the symbol is decoration, the label says
  // what is counted (a title alone is only read on hover, by some readers).
  function countElement(className, symbol, n, words) {
    var label = plural(n, words[0], words[1]);
    var e = el('span', className, symbol + '\u00a0' + n.toLocaleString());
    e.setAttribute('role', 'img');
    e.setAttribute('aria-label', label);
    e.setAttribute('title', label);
    return e;
  }

  function link(href, className, child) {
    var url = safeUrl(href);
    var e = el(url ? 'a' : 'span', className);
    if (url) {
      e.setAttribute('href', url);
      e.setAttribute('rel', 'nofollow noopener noreferrer ugc');
    }
    if (typeof child === 'string') e.textContent = child;
    else if (child) e.appendChild(child);
    return e;
  }

  function plural(n, one, many) {
    var s;
    try {
      s = n.toLocaleString();
    } catch (e) {
      s = String(n);
    }
    return s + ' ' + (n === 1 ? one : many);
  }

  function parseDate(v) {
    if (typeof v !== 'string') return null;
    var d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }

  var dateFormat = null;
  function formatDate(d) {
    try {
      if (!dateFormat) dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
      return dateFormat.format(d);
    } catch (e) {
      return d.toLocaleString();
    }
  }

  function timeElement(d, className) {
    var t = el('time', className, formatDate(d));
    t.setAttribute('datetime', d.toISOString());
    return t;
  }

  // Snowflake ids: shorter is older; equal length compares as strings.
  function compareIds(a, b) {
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  }

  // Direction of a reply's text: the answer has no language, and dir="auto"
  // looks only at the first strong character, which is usually the Latin
  // @mention in front of a right-to-left reply. Count letters instead,
  // leaving out mentions, hashtags and links.
  function textDirection(node) {
    var rtl = 0;
    var ltr = 0;
    (function walk(n) {
      for (var c = n.firstChild; c; c = c.nextSibling) {
        if (c.nodeType === 3) {
          var t = c.nodeValue;
          rtl += (t.match(/[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/g) || []).length;
          ltr += (t.match(/[A-Za-z\u00c0-\u02af\u0370-\u052f\u0900-\u1fff\u3040-\u9fff\uac00-\ud7af]/g) || []).length;
        } else if (c.nodeType === 1 && c.tagName !== 'A') {
          walk(c);
        }
      }
    })(node);
    if (rtl > ltr) return 'rtl';
    return ltr > 0 ? 'ltr' : 'auto';
  }

  // --------------------------------------------------------------- thread

  function buildTree(comments) {
    var ids = Object.keys(comments).filter(function (id) { return isObject(comments[id]); });
    // No prototype: an id such as "__proto__" or "constructor" is a plain key.
    var nodes = Object.create(null);
    ids.forEach(function (id) {
      var c = comments[id];
      nodes[id] = { id: id, c: c, date: parseDate(c.date), children: [], parent: null };
    });
    ids.forEach(function (id) {
      // Walk up the reply_to chain; a chain that loops makes a top-level reply.
      var parent = str(nodes[id].c.reply_to);
      if (!has(nodes, parent) || parent === id) return;
      var seen = Object.create(null);
      seen[id] = 1;
      for (var p = parent; has(nodes, p); p = str(nodes[p].c.reply_to)) {
        if (seen[p] === 1) return;
        seen[p] = 1;
      }
      nodes[id].parent = nodes[parent];
    });
    var top = [];
    ids.forEach(function (id) {
      var n = nodes[id];
      (n.parent ? n.parent.children : top).push(n);
    });
    sortNodes(top);
    return top;
  }

  function sortNodes(list) {
    list.sort(function (a, b) {
      var ta = a.date ? a.date.getTime() : Infinity;
      var tb = b.date ? b.date.getTime() : Infinity;
      if (ta !== tb) return ta < tb ? -1 : 1;
      return compareIds(a.id, b.id);
    });
    list.forEach(function (n) { sortNodes(n.children); });
  }

  // ------------------------------------------------------------- rendering

  function authorUrlOf(opts, stats) {
    var own = safeUrl(opts.authorUrl);
    if (own) return own;
    var root = safeUrl(stats.url);
    if (!root) return null;
    var i = root.lastIndexOf('/');
    return i > 'https://'.length ? root.slice(0, i) : null;
  }

  function renderComment(node, depth, ctx, parentName) {
    var c = node.c;
    var author = isObject(c.author) ? c.author : {};
    var li = el('li', 'mc-comment');
    li.setAttribute('data-comment-id', node.id);

    var article = el('article', 'mc-body');
    var header = el('header', 'mc-header');

    var name = el('bdi', 'mc-name');
    name.appendChild(sanitize(str(author.display_name), { inline: true, emoji: ctx.emoji }));
    if (!hasContent(name)) {
      name.textContent = decodeEntities(str(author.acct)).replace(/^@/, '').split('@')[0] || 'Anonymous';
    }
    var nameText = labelText(name);

    if (ctx.avatars) {
      var avatarUrl = safeUrl(author.avatar);
      var avatar;
      if (avatarUrl) {
        avatar = el('img', 'mc-avatar');
        avatar.setAttribute('src', avatarUrl);
        avatar.setAttribute('loading', 'lazy');
        avatar.setAttribute('decoding', 'async');
        avatar.setAttribute('referrerpolicy', 'no-referrer');
      } else {
        avatar = el('span', 'mc-avatar mc-avatar--none');
        avatar.setAttribute('role', 'img');
      }
      if (avatarUrl) {
        avatar.setAttribute('alt', TEXT.avatarOf + nameText);
        avatar.setAttribute('width', String(AVATAR_SIZE));
        avatar.setAttribute('height', String(AVATAR_SIZE));
      } else {
        avatar.setAttribute('aria-label', TEXT.avatarOf + nameText);
      }
      header.appendChild(avatar);
    }

    var who = el('span', 'mc-who');
    var authorLink = link(author.url, 'mc-author', name);
    who.appendChild(authorLink);
    var acct = decodeEntities(str(author.acct));
    if (acct) {
      who.appendChild(document.createTextNode(' '));
      var acctEl = el('span', 'mc-acct', '@' + acct.replace(/^@/, ''));
      acctEl.setAttribute('dir', 'ltr');
      who.appendChild(acctEl);
    }
    if (author.bot === true) {
      who.appendChild(document.createTextNode(' '));
      who.appendChild(el('span', 'mc-badge mc-bot', TEXT.bot));
    }
    var authorUrl = safeUrl(author.url);
    if (ctx.authorUrl && authorUrl && authorUrl === ctx.authorUrl) {
      li.className += ' mc-comment--author';
      who.appendChild(document.createTextNode(' '));
      who.appendChild(el('span', 'mc-badge mc-author-badge', TEXT.author));
    }
    header.appendChild(who);
    if (parentName !== undefined && depth > ctx.maxIndent) {
      // No indentation left to show whom this answers: say it.
      var irt = el('span', 'mc-in-reply-to', TEXT.inReplyTo);
      var pn = el('bdi', null, parentName);
      irt.appendChild(pn);
      header.appendChild(irt);
    }

    var meta = el('span', 'mc-meta');
    if (node.date) {
      meta.appendChild(link(c.url, 'mc-permalink', timeElement(node.date, 'mc-date')));
    } else if (safeUrl(c.url)) {
      meta.appendChild(link(c.url, 'mc-permalink', TEXT.permalink));
    }
    var edited = parseDate(c.edited);
    if (edited) {
      // Visible text, not only a tooltip: "edited <time>".
      meta.appendChild(document.createTextNode(' '));
      var ed = el('span', 'mc-edited', TEXT.edited + ' ');
      ed.appendChild(timeElement(edited, 'mc-edited-date'));
      meta.appendChild(ed);
    }
    var favs = num(c.favs);
    if (favs > 0) {
      meta.appendChild(document.createTextNode(' '));
      meta.appendChild(countElement('mc-favs', '★', favs, TEXT.favourite));
    }
    var boosts = num(c.reblogs);
    if (boosts > 0) {
      meta.appendChild(document.createTextNode(' '));
      meta.appendChild(countElement('mc-boosts', '↻', boosts, TEXT.boost));
    }
    header.appendChild(meta);
    article.appendChild(header);

    var content = el('div', 'mc-content');
    content.appendChild(sanitize(str(c.toot), { emoji: ctx.emoji }));
    var quote = renderQuote(c.quote);
    if (quote) {
      // As on Mastodon: the quote line replaces the fallback "RE: <link>".
      Array.prototype.slice.call(content.querySelectorAll('.quote-inline')).forEach(function (p) {
        p.parentNode.removeChild(p);
      });
      content.appendChild(quote);
    }
    content.setAttribute('dir', textDirection(content));
    var media = ctx.media !== 'off' ? renderMedia(c, ctx) : null;

    var cw = str(c.spoiler_text);
    var cwText = el('span', 'mc-cw-text');
    cwText.appendChild(sanitize(cw, { inline: true, emoji: ctx.emoji }));
    if (hasContent(cwText)) {
      var details = el('details', 'mc-cw');
      var summary = el('summary', 'mc-cw-summary');
      var label = el('span', 'mc-cw-label', TEXT.cwHint + ': ');
      cwText.setAttribute('dir', 'auto');
      summary.appendChild(label);
      summary.appendChild(cwText);
      details.appendChild(summary);
      details.appendChild(content);
      if (media) details.appendChild(media);
      article.appendChild(details);
    } else {
      article.appendChild(content);
      if (media) article.appendChild(media);
    }
    li.appendChild(article);

    if (node.children.length) {
      var ol = list('ol', 'mc-replies');
      if (depth + 1 > ctx.maxIndent) ol.className += ' mc-replies--flat';
      node.children.forEach(function (child) { ol.appendChild(renderComment(child, depth + 1, ctx, nameText)); });
      li.appendChild(ol);
    }
    return li;
  }

  // The post a reply quotes (Mastodon 4.5): the daemon sends it only when
  // the quote is accepted and the quoted post public; a link, never its text.
  function renderQuote(q) {
    if (!isObject(q) || !safeUrl(q.url)) return null;
    var acct = decodeEntities(str(q.acct)).replace(/^@/, '');
    var p = el('p', 'mc-quote', TEXT.quoting);
    var a = link(q.url, 'mc-quote-link', acct ? '@' + acct : safeUrl(q.url));
    a.setAttribute('dir', 'ltr');
    p.appendChild(a);
    return p;
  }

  // A list whose markers the style sheet removes: role="list" keeps its list
  // semantics in Safari/VoiceOver, which drops them under list-style: none.
  function list(tag, className) {
    var e = el(tag, className);
    e.setAttribute('role', 'list');
    return e;
  }

  function renderMedia(c, ctx) {
    if (!Array.isArray(c.media) || c.media.length === 0) return null;
    var sensitive = c.sensitive === true;
    var ul = list('ul', 'mc-media');
    c.media.forEach(function (m) {
      if (!isObject(m)) return;
      // Own keys only: a type such as "constructor" or "__proto__" is unknown.
      var type = has(TEXT.attachment, str(m.type)) ? str(m.type) : 'unknown';
      var alt = decodeEntities(str(m.description));
      var url = safeUrl(m.url);
      var preview = safeUrl(m.preview_url) || (type === 'image' ? url : null);
      var li = el('li', 'mc-media-item mc-media--' + type);
      if (ctx.media === 'link' || !preview) {
        li.appendChild(link(url, 'mc-media-text', TEXT.attachment[type] + (alt ? ': ' + alt : '')));
        ul.appendChild(li);
        return;
      }
      var img = el('img', 'mc-thumb');
      img.setAttribute('width', String(THUMB_W));
      img.setAttribute('height', String(THUMB_H));
      img.setAttribute('loading', 'lazy');
      img.setAttribute('decoding', 'async');
      img.setAttribute('referrerpolicy', 'no-referrer');
      var show = function () {
        img.setAttribute('alt', alt);
        if (alt) img.setAttribute('title', alt);
        img.setAttribute('src', preview);
      };
      var a = link(url, 'mc-media-link', img);
      if (a.tagName === 'A' && !alt) a.setAttribute('aria-label', TEXT.attachment[type] + TEXT.noDescription);
      if (type === 'video' || type === 'gifv' || type === 'audio') {
        var badge = el('span', 'mc-media-type', TEXT.attachment[type]);
        a.appendChild(badge);
      }
      li.appendChild(a);
      if (!sensitive) {
        show();
      } else {
        // Nothing is loaded until the reader asks: the <img> has no src (a
        // neutral box of the thumbnail's size), so it stays hidden with or
        // without the style sheet.
        li.className += ' mc-sensitive';
        img.setAttribute('alt', '');
        img.className += ' mc-thumb--hidden';
        if (a.tagName === 'A') a.setAttribute('tabindex', '-1');
        a.setAttribute('aria-hidden', 'true');
        var button = el('button', 'mc-reveal', TEXT.sensitive);
        button.setAttribute('type', 'button');
        button.addEventListener('click', function () {
          show();
          img.className = img.className.replace(/\s*\bmc-thumb--hidden\b/, '');
          li.className = li.className.replace(/\s*\bmc-sensitive\b/, '') + ' mc-revealed';
          a.removeAttribute('tabindex');
          a.removeAttribute('aria-hidden');
          if (button.parentNode) button.parentNode.removeChild(button);
          if (a.tagName === 'A') a.focus();
        });
        li.appendChild(button);
      }
      ul.appendChild(li);
    });
    return ul.firstChild ? ul : null;
  }

  function section(container, opts) {
    var s = el('section', 'mc-comments');
    var id = 'mc-heading-' + (++headingCounter);
    var level = parseInt(opts.headingLevel, 10);
    if (!(level >= 2 && level <= 6)) level = 2;
    var h = el('h' + level, 'mc-heading', opts.heading || TEXT.heading);
    h.id = id;
    s.setAttribute('aria-labelledby', id);
    s.appendChild(h);
    container.textContent = '';
    container.appendChild(s);
    return s;
  }

  function replyBlock(rootUrl) {
    var url = safeUrl(rootUrl);
    var box = el('div', 'mc-reply');
    if (!url) return box;
    var p = el('p', 'mc-reply-line');
    p.appendChild(link(url, 'mc-reply-link', TEXT.reply));
    box.appendChild(p);
    var note = el('p', 'mc-reply-note', TEXT.replyNote + ' ');
    var code = el('code', 'mc-reply-url', url);
    code.setAttribute('dir', 'ltr');
    note.appendChild(code);
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      note.appendChild(document.createTextNode(' '));
      var b = el('button', 'mc-copy', TEXT.copy);
      b.setAttribute('type', 'button');
      b.addEventListener('click', function () {
        navigator.clipboard.writeText(url).then(function () {
          b.textContent = TEXT.copied;
          setTimeout(function () { b.textContent = TEXT.copy; }, 2000);
        }, function () {});
      });
      note.appendChild(b);
    }
    box.appendChild(note);
    return box;
  }

  function render(container, data, opts) {
    var s = section(container, opts);
    var stats = isObject(data.stats) ? data.stats : {};
    if (!isObject(data.comments)) {
      s.appendChild(el('p', 'mc-status mc-not-announced', TEXT.notAnnounced));
      return;
    }
    var ctx = {
      avatars: opts.avatars !== 'off',
      media: opts.media === 'off' || opts.media === 'link' ? opts.media : 'thumbnails',
      maxIndent: parseInt(opts.maxIndent, 10) >= 0 ? parseInt(opts.maxIndent, 10) : 5,
      emoji: opts.emoji !== 'off',
      authorUrl: authorUrlOf(opts, stats)
    };
    var tree = buildTree(data.comments);

    var statsLine = el('p', 'mc-stats');
    var parts = [
      plural(num(stats.favs), 'favourite', 'favourites'),
      plural(num(stats.reblogs), 'boost', 'boosts'),
      plural(num(stats.replies), 'reply', 'replies')
    ].join(' · ');
    statsLine.appendChild(link(stats.url, 'mc-stats-link', parts));
    s.appendChild(statsLine);

    if (data.stale === true) s.appendChild(el('p', 'mc-status mc-stale', TEXT.stale));

    if (tree.length) {
      var ol = list('ol', 'mc-thread');
      tree.forEach(function (n) { ol.appendChild(renderComment(n, 0, ctx)); });
      s.appendChild(ol);
    } else {
      s.appendChild(el('p', 'mc-status mc-empty', TEXT.noReplies));
    }

    var withheld = num(data.withheld);
    if (withheld > 0) {
      s.appendChild(el('p', 'mc-status mc-withheld',
        withheld === 1 ? '1 reply is not shown.' : withheld.toLocaleString() + ' replies are not shown.'));
    }
    s.appendChild(replyBlock(stats.url));
  }

  function renderError(container) {
    container.textContent = '';
    var p = el('p', 'mc-status mc-error', TEXT.error);
    p.setAttribute('role', 'status');
    container.appendChild(p);
  }

  function load(container) {
    if (!container || container.getAttribute('data-mc-state') === 'loading') return;
    var d = container.dataset || {};
    var opts = {
      src: container.getAttribute('data-src'),
      authorUrl: d.authorUrl,
      heading: d.heading,
      headingLevel: d.headingLevel,
      avatars: d.avatars,
      media: d.media,
      emoji: d.emoji,
      maxIndent: d.maxIndent
    };
    if (!opts.src || typeof fetch !== 'function') return;
    container.setAttribute('data-mc-state', 'loading');
    container.setAttribute('aria-busy', 'true');
    container.textContent = '';
    container.appendChild(el('p', 'mc-status mc-loading', TEXT.loading));

    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS) : null;
    fetch(opts.src, {
      headers: { Accept: 'application/json' },
      // The answer is public: no cookies or HTTP authentication are sent.
      credentials: 'omit',
      signal: controller ? controller.signal : undefined
    }).then(function (res) {
      if (!res.ok) {
        // Let go of the error body so the connection is not held open.
        if (res.body && typeof res.body.cancel === 'function') res.body.cancel().catch(function () {});
        throw new Error('HTTP ' + res.status);
      }
      return res.json();
    }).then(function (data) {
      if (!isObject(data) || !('comments' in data)) throw new Error('unexpected answer');
      render(container, data, opts);
      container.setAttribute('data-mc-state', 'done');
    }).catch(function () {
      renderError(container);
      container.setAttribute('data-mc-state', 'error');
    }).then(function () {
      if (timer) clearTimeout(timer);
      container.removeAttribute('aria-busy');
    });
  }

  function loadAll() {
    var list = document.querySelectorAll('.mastodon-comments[data-src]');
    for (var i = 0; i < list.length; i++) load(list[i]);
  }

  window.MastodonComments = { load: load };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', loadAll);
  } else {
    loadAll();
  }
})();
