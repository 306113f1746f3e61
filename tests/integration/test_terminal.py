"""The client at a real terminal (manual §4.2, §4.8), as a person uses it:
text in any script typed, edited and sent byte for byte under a UTF-8
locale, the typed line redrawn intact under an incoming message, the one
hint under a non-UTF-8 locale, and a screen that carries only ">>> " lines
and the prompt while the log goes to a file.

Each client runs in a tmux session of its own (terminal.py): what is
checked is what the screen shows.
"""

import os

from harness import LOOPBACK, TABLE, UNREACHABLE, WELCOME, Skip, check, msg, received_by
from terminal import Terminal, have_tmux

UTF8 = {"LANG": "C.UTF-8"}


def terminal_client(ctx, nick, server, locale, extra=(), width=200):
    """A client `nick` of `server` on a terminal of its own; waits for its
    welcome line."""
    if not have_tmux():
        raise Skip("tmux is not installed (Debian package tmux)")
    env = dict(ctx.env)
    env.update(locale)
    argv = [ctx.binary, "-c", nick, LOOPBACK, str(server.port), str(ctx.free_port()),
            "--bind", LOOPBACK] + list(extra)
    term = Terminal(argv, env, ctx.tmp, width=width)
    ctx.terminals = getattr(ctx, "terminals", []) + [term]
    try:
        term.expect(WELCOME)
    except BaseException:
        term.close()
        raise
    return term


def close_all(ctx):
    for term in getattr(ctx, "terminals", []):
        term.close()


TEXTS = [
    "Ça va ? Très bien, merci : à bientôt, Noël, œuvre",  # French
    "你好，世界！今天天气很好。",  # Chinese: wide characters
    "مرحبا بالعالم، كيف حالك؟",  # Arabic: right to left
    "e\u0301te\u0301 n\u0303 a\u0300 la\u0308",  # combining marks after their letters
    "🙂 👍🏽 🇫🇷 👩‍💻 end",  # emoji: a modifier, a flag, a ZWJ sequence
]


def test_text_in_any_script_typed_at_a_terminal_arrives_byte_for_byte(ctx):
    try:
        server, clients = ctx.chat(["bob"])
        bob = clients["bob"]
        alice = terminal_client(ctx, "alice", server, UTF8)
        bob.expect(">>> [Client table updated.]")
        for i, text in enumerate(TEXTS):
            alice.type("send bob " + text)
            alice.expect(received_by("bob"), count=i + 1)
            bob.expect(msg("alice", text))
        # The screen echoed each line as typed.
        shown = alice.screen()
        for text in TEXTS[:3]:
            check(text in shown, "the terminal did not echo %r:\n%s" % (text, shown))
    finally:
        close_all(ctx)


def test_backspace_and_cursor_keys_edit_whole_wide_characters_at_a_terminal(ctx):
    try:
        server, clients = ctx.chat(["bob"])
        bob = clients["bob"]
        alice = terminal_client(ctx, "alice", server, UTF8)
        alice.type("send bob 你好世界", enter=False)
        alice.keys("BSpace")  # 界 goes, whole
        alice.type("!", enter=False)  # 你好世!
        alice.keys("Left", "Left", "BSpace")  # the cursor before 世: 好 goes
        alice.type("é", enter=False)  # 你é世!
        alice.keys("Enter")
        alice.expect(received_by("bob"))
        bob.expect(msg("alice", "你é世!"))
    finally:
        close_all(ctx)


def test_a_message_arriving_mid_line_redraws_the_typed_line_intact_at_a_terminal(ctx):
    try:
        server, clients = ctx.chat(["bob"])
        bob = clients["bob"]
        # 60 columns: the typed line fills two rows of the terminal.
        alice = terminal_client(ctx, "alice", server, UTF8, width=60)
        typed = "这是一行很长的中文，它在终端里会折成两行显示 émoji 🙂 end"
        alice.type("send bob " + typed, enter=False)
        alice.expect("🙂 end")
        bob.send("send alice interrupting you")
        alice.expect(">>> bob: interrupting you")
        bob.send("send alice and again")
        alice.expect(">>> bob: and again")
        # The line and the redraw are two writes: wait for the redraw too.
        alice.expect("🙂 end")
        rows = alice.rows()
        starts = [i for i, r in enumerate(rows) if r.startswith(">>> send bob ")]
        check(len(starts) == 1, "the typed line is on the screen %d times:\n%s" % (
            len(starts), "\n".join(rows)))
        check(rows.index(">>> bob: and again") < starts[0],
              "the typed line is not under the messages:\n%s" % "\n".join(rows))
        check((rows[starts[0]] + rows[starts[0] + 1]).endswith(typed[-10:]),
              "the typed line was not redrawn whole:\n%s" % "\n".join(rows))
        alice.keys("Enter")
        alice.expect(received_by("bob"))
        bob.expect(msg("alice", typed))
        # A message after Enter erases only the fresh prompt, not the rows
        # of the line just sent.
        bob.send("send alice after enter")
        alice.expect(">>> bob: after enter")
        shown = alice.screen()
        check(">>> bob: and again" in shown and shown.count("🙂 end") >= 1,
              "rows above the prompt were erased after Enter:\n%s" % shown)
    finally:
        close_all(ctx)


def test_a_non_utf8_locale_at_a_terminal_gets_one_hint_and_ascii_still_works(ctx):
    try:
        server, clients = ctx.chat(["bob"])
        bob = clients["bob"]
        alice = terminal_client(ctx, "alice", server, {"LC_ALL": "C"})
        hint = ">>> [Typing text other than ASCII needs a UTF-8 locale"
        alice.expect(hint)
        alice.type("send bob plain ASCII still goes: 1 + 2 = 3")
        alice.expect(received_by("bob"))
        bob.expect(msg("alice", "plain ASCII still goes: 1 + 2 = 3"))
        alice.type("send bob and again")
        alice.expect(received_by("bob"))
        bob.expect(msg("alice", "and again"))
        shown = alice.screen()
        check(shown.count(hint) == 1, "the hint is shown %d times:\n%s" % (
            shown.count(hint), shown))
    finally:
        close_all(ctx)


def screen_rows_are_chat_lines(term):
    """Every row the screen shows is a '>>> ' line or the prompt."""
    bad = [r for r in term.rows() if r and not r.startswith(">>>")]
    check(not bad, "rows other than '>>> ' lines on the screen: %r\n%s" % (bad, term.screen()))


def test_a_dead_server_under_a_terminal_client_shows_one_line_and_logs_to_a_file(ctx):
    try:
        server = ctx.server()
        alice = terminal_client(ctx, "alice", server, UTF8,
                                extra=["--heartbeat-ms", "300", "--ack-timeout-ms", "100",
                                       "--server-retries", "3"])
        server.kill()
        alice.expect(UNREACHABLE)
        alice.type("send_all still here?")
        alice.expect(">>> [Server unreachable: try again when it is back.]")
        screen_rows_are_chat_lines(alice)
        # The details are in the log beside the key file (0600).
        log = os.path.join(ctx.keys, "udpchat", "alice.log")
        deadline_text = "unreachable; reconnecting"
        with open(log) as f:
            text = f.read()
        check(deadline_text in text, "%s does not say %r: %r" % (log, deadline_text, text))
        check(os.stat(log).st_mode & 0o777 == 0o600, "%s is not mode 0600" % log)
    finally:
        close_all(ctx)


def test_log_file_and_log_level_say_where_a_terminal_client_logs(ctx):
    try:
        server = ctx.server()
        chosen = os.path.join(ctx.tmp, "chosen.log")
        quiet = terminal_client(ctx, "alice", server, UTF8,
                                extra=["--log-file", chosen, "--log-level", "debug"])
        # The table follows the welcome: `list` typed before it would show
        # no row yet (a slow sanitizer build took 10 s to show this race).
        quiet.expect(TABLE)
        quiet.type("list")
        quiet.expect(">>> alice 127.0.0.1:")
        screen_rows_are_chat_lines(quiet)
        with open(chosen) as f:
            check("DEBUG" in f.read(), "--log-file %s holds no debug record" % chosen)
        check(not os.path.exists(os.path.join(ctx.keys, "udpchat", "alice.log")),
              "a log beside the key file, though --log-file named another")
        # --log-level alone at a terminal: the user asked to see the log.
        loud = terminal_client(ctx, "bob", server, UTF8, extra=["--log-level", "debug"])
        loud.expect(" DEBUG ")
    finally:
        close_all(ctx)
