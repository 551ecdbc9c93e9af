CREATE INDEX idx_attachments_container ON confluence_attachments(container_id);
CREATE INDEX idx_attachments_sha ON confluence_attachments(sha256);
CREATE INDEX idx_blogposts_space ON confluence_blogposts(space_id);
CREATE INDEX idx_comments_container ON confluence_comments(container_id);
CREATE INDEX idx_issues_project ON jira_issues(project_id);
CREATE INDEX idx_issues_updated ON jira_issues(updated);
CREATE INDEX idx_jira_attachments_issue ON jira_attachments(issue_id);
CREATE INDEX idx_jira_changelogs_issue ON jira_changelogs(issue_id);
CREATE INDEX idx_jira_comments_issue ON jira_comments(issue_id);
CREATE INDEX idx_jira_worklogs_issue ON jira_worklogs(issue_id);
CREATE INDEX idx_pages_parent ON confluence_pages(parent_id);
CREATE INDEX idx_pages_space ON confluence_pages(space_id);
CREATE TABLE confluence_attachments (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, title TEXT, media_type TEXT, file_size INTEGER,
    version INTEGER, created_at TEXT, file_id TEXT, sha256 TEXT, sha256_version INTEGER, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, download_refused TEXT);
CREATE TABLE confluence_blogposts (
    id TEXT PRIMARY KEY, space_id TEXT REFERENCES confluence_spaces(id), title TEXT, status TEXT, version INTEGER,
    created_at TEXT, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, labels_version INTEGER, body_text TEXT);
CREATE TABLE confluence_comments (
    id TEXT PRIMARY KEY, container_id TEXT, container_type TEXT, parent_comment_id TEXT, kind TEXT, status TEXT,
    version INTEGER, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, body_text TEXT);
CREATE TABLE confluence_content_labels (
    content_id TEXT, label_id TEXT REFERENCES confluence_labels(id), content_type TEXT,
    PRIMARY KEY (content_id, label_id));
CREATE TABLE confluence_labels (id TEXT PRIMARY KEY, name TEXT, prefix TEXT, raw TEXT);
CREATE TABLE confluence_pages (
    id TEXT PRIMARY KEY, space_id TEXT REFERENCES confluence_spaces(id), parent_id TEXT, title TEXT, status TEXT,
    version INTEGER, created_at TEXT, updated_at TEXT, author_id TEXT, body_storage TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, labels_version INTEGER, body_text TEXT);
CREATE TABLE confluence_spaces (
    id TEXT PRIMARY KEY, key TEXT, name TEXT, type TEXT, status TEXT, homepage_id TEXT, created_at TEXT,
    raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE jira_attachments (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), filename TEXT, mime_type TEXT, size INTEGER,
    created TEXT, sha256 TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, download_refused TEXT);
CREATE TABLE jira_changelogs (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), created TEXT, raw TEXT);
CREATE TABLE jira_comments (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), author_id TEXT, created TEXT, updated TEXT,
    body TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER, body_text TEXT);
CREATE TABLE jira_fields (id TEXT PRIMARY KEY, name TEXT, custom INTEGER, raw TEXT);
CREATE TABLE jira_issues (
    id TEXT PRIMARY KEY, key TEXT, project_id TEXT REFERENCES jira_projects(id), summary TEXT, status TEXT,
    issue_type TEXT, created TEXT, updated TEXT, fields TEXT, deleted_at TEXT, seen_sweep INTEGER, fetched_sweep INTEGER, description_text TEXT);
CREATE TABLE jira_projects (
    id TEXT PRIMARY KEY, key TEXT, name TEXT, project_type TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE jira_worklogs (
    id TEXT PRIMARY KEY, issue_id TEXT REFERENCES jira_issues(id), started TEXT, time_spent_seconds INTEGER,
    updated TEXT, raw TEXT, deleted_at TEXT, seen_sweep INTEGER);
CREATE TABLE sync_debts (
    kind TEXT NOT NULL, key TEXT NOT NULL, detail TEXT, first_failed_at TEXT, last_failed_at TEXT,
    attempts INTEGER DEFAULT 1, last_error TEXT, run_id INTEGER, PRIMARY KEY (kind, key));
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT, requests INTEGER DEFAULT 0,
    retries INTEGER DEFAULT 0, rate_limited INTEGER DEFAULT 0, rows_written INTEGER DEFAULT 0,
    bytes_downloaded INTEGER DEFAULT 0, downloads INTEGER DEFAULT 0, errors TEXT, counts TEXT, options TEXT);
CREATE TABLE sync_state (stream TEXT PRIMARY KEY, value TEXT, updated_at TEXT);
CREATE TRIGGER [confluence_blogposts_ad] AFTER DELETE ON [confluence_blogposts] BEGIN
  INSERT INTO [confluence_blogposts_fts] ([confluence_blogposts_fts], rowid, [title], [body_text]) VALUES('delete', old.rowid, old.[title], old.[body_text]);
END;
CREATE TRIGGER [confluence_blogposts_ai] AFTER INSERT ON [confluence_blogposts] BEGIN
  INSERT INTO [confluence_blogposts_fts] (rowid, [title], [body_text]) VALUES (new.rowid, new.[title], new.[body_text]);
END;
CREATE TRIGGER [confluence_blogposts_au] AFTER UPDATE ON [confluence_blogposts] BEGIN
  INSERT INTO [confluence_blogposts_fts] ([confluence_blogposts_fts], rowid, [title], [body_text]) VALUES('delete', old.rowid, old.[title], old.[body_text]);
  INSERT INTO [confluence_blogposts_fts] (rowid, [title], [body_text]) VALUES (new.rowid, new.[title], new.[body_text]);
END;
CREATE TRIGGER [confluence_comments_ad] AFTER DELETE ON [confluence_comments] BEGIN
  INSERT INTO [confluence_comments_fts] ([confluence_comments_fts], rowid, [body_text]) VALUES('delete', old.rowid, old.[body_text]);
END;
CREATE TRIGGER [confluence_comments_ai] AFTER INSERT ON [confluence_comments] BEGIN
  INSERT INTO [confluence_comments_fts] (rowid, [body_text]) VALUES (new.rowid, new.[body_text]);
END;
CREATE TRIGGER [confluence_comments_au] AFTER UPDATE ON [confluence_comments] BEGIN
  INSERT INTO [confluence_comments_fts] ([confluence_comments_fts], rowid, [body_text]) VALUES('delete', old.rowid, old.[body_text]);
  INSERT INTO [confluence_comments_fts] (rowid, [body_text]) VALUES (new.rowid, new.[body_text]);
END;
CREATE TRIGGER [confluence_pages_ad] AFTER DELETE ON [confluence_pages] BEGIN
  INSERT INTO [confluence_pages_fts] ([confluence_pages_fts], rowid, [title], [body_text]) VALUES('delete', old.rowid, old.[title], old.[body_text]);
END;
CREATE TRIGGER [confluence_pages_ai] AFTER INSERT ON [confluence_pages] BEGIN
  INSERT INTO [confluence_pages_fts] (rowid, [title], [body_text]) VALUES (new.rowid, new.[title], new.[body_text]);
END;
CREATE TRIGGER [confluence_pages_au] AFTER UPDATE ON [confluence_pages] BEGIN
  INSERT INTO [confluence_pages_fts] ([confluence_pages_fts], rowid, [title], [body_text]) VALUES('delete', old.rowid, old.[title], old.[body_text]);
  INSERT INTO [confluence_pages_fts] (rowid, [title], [body_text]) VALUES (new.rowid, new.[title], new.[body_text]);
END;
CREATE TRIGGER [jira_comments_ad] AFTER DELETE ON [jira_comments] BEGIN
  INSERT INTO [jira_comments_fts] ([jira_comments_fts], rowid, [body_text]) VALUES('delete', old.rowid, old.[body_text]);
END;
CREATE TRIGGER [jira_comments_ai] AFTER INSERT ON [jira_comments] BEGIN
  INSERT INTO [jira_comments_fts] (rowid, [body_text]) VALUES (new.rowid, new.[body_text]);
END;
CREATE TRIGGER [jira_comments_au] AFTER UPDATE ON [jira_comments] BEGIN
  INSERT INTO [jira_comments_fts] ([jira_comments_fts], rowid, [body_text]) VALUES('delete', old.rowid, old.[body_text]);
  INSERT INTO [jira_comments_fts] (rowid, [body_text]) VALUES (new.rowid, new.[body_text]);
END;
CREATE TRIGGER [jira_issues_ad] AFTER DELETE ON [jira_issues] BEGIN
  INSERT INTO [jira_issues_fts] ([jira_issues_fts], rowid, [key], [summary], [description_text]) VALUES('delete', old.rowid, old.[key], old.[summary], old.[description_text]);
END;
CREATE TRIGGER [jira_issues_ai] AFTER INSERT ON [jira_issues] BEGIN
  INSERT INTO [jira_issues_fts] (rowid, [key], [summary], [description_text]) VALUES (new.rowid, new.[key], new.[summary], new.[description_text]);
END;
CREATE TRIGGER [jira_issues_au] AFTER UPDATE ON [jira_issues] BEGIN
  INSERT INTO [jira_issues_fts] ([jira_issues_fts], rowid, [key], [summary], [description_text]) VALUES('delete', old.rowid, old.[key], old.[summary], old.[description_text]);
  INSERT INTO [jira_issues_fts] (rowid, [key], [summary], [description_text]) VALUES (new.rowid, new.[key], new.[summary], new.[description_text]);
END;
CREATE VIRTUAL TABLE [confluence_blogposts_fts] USING FTS5 ([title], [body_text], tokenize='porter', content=[confluence_blogposts]);
CREATE VIRTUAL TABLE [confluence_comments_fts] USING FTS5 ([body_text], tokenize='porter', content=[confluence_comments]);
CREATE VIRTUAL TABLE [confluence_pages_fts] USING FTS5 ([title], [body_text], tokenize='porter', content=[confluence_pages]);
CREATE VIRTUAL TABLE [jira_comments_fts] USING FTS5 ([body_text], tokenize='porter', content=[jira_comments]);
CREATE VIRTUAL TABLE [jira_issues_fts] USING FTS5 ([key], [summary], [description_text], tokenize='porter', content=[jira_issues]);
