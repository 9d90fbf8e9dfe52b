"""AI preferences follow the user across hosts when the store is PostgreSQL."""

from qlwork.assistant.preferences import (
    AIPreferences,
    load_preferences,
    save_preferences,
)


def test_preferences_saved_with_one_home_are_read_with_another(pg_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_DATABASE_URL", pg_cluster.new_database())
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "host-a"))
    prefs = AIPreferences(preferred_ai_provider="openai-chat", base_url="http://127.0.0.1:11434/v1",
                          model="llama3")
    save_preferences("alice", prefs)
    save_preferences("alice", prefs.model_copy(update={"model": "qwen2"}))  # the latest wins
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "host-b"))
    loaded = load_preferences("alice")
    assert (loaded.preferred_ai_provider, loaded.model) == ("openai-chat", "qwen2")
    assert load_preferences("bob") == AIPreferences()  # nothing saved: the defaults
    assert not (tmp_path / "host-a" / "users").exists()  # nothing written to a host's folder
