//! Which file a path names, wherever it is seen from: one file is one hold whether
//! an agent names it in the main worktree, a linked worktree, through a symlink or
//! in a copy of the workspace.
//!
//! The rules, in order:
//! 1. A relative path starts at the caller's working directory.
//! 2. Symlinks are resolved component by component for the longest existing
//!    prefix; `..` steps out of the resolved directory, as the kernel does; what
//!    does not exist (yet) is kept as written, cleaned.
//! 3. With a workspace and a checkout, a path under the checkout names the same
//!    path under the workspace.
//! 4. Otherwise, inside a git worktree (the main one, a linked one, one of a bare
//!    repository's) a path names the same path under the repository's main
//!    worktree; a bare repository's stands for its common dir. A repository
//!    inside another worktree (a submodule) is named through the enclosing one.
//! 5. Anywhere else, the real path.
//!
//! The filesystem is read only through [`Filesystem`] (the WIT `fs` import).

use crate::model::Error;
use std::collections::BTreeMap;

/// What is at a path (lstat: a final symlink is not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    Directory,
    File,
    Symlink(String),
    Other,
}

/// The `fs` import.
pub trait Filesystem {
    fn inspect(&mut self, path: &str) -> Node;
    /// A git link file's text (a `.git` file, `commondir`); `None` when absent.
    fn read_link_file(&mut self, path: &str) -> Option<String>;
}

/// Where a caller stands (WIT `place`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub cwd: String,
    pub workspace: String,
    pub checkout: String,
}

/// A file as holds names it (WIT `identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub file: String,
    pub checkout: String,
}

/// Symlinks followed while resolving one path before giving up (Linux's limit).
pub const MAX_SYMLINKS: u32 = 40;

/// Name every path of `paths` as seen from `place` (see the module's rules).
pub fn identify(
    fs: &mut impl Filesystem,
    paths: &[String],
    place: &Place,
) -> Result<Vec<Identity>, Error> {
    let mut names = Namer {
        fs,
        nodes: BTreeMap::new(),
    };
    let copy = names.copy(place)?;
    let checkout = match (&copy, place.checkout.is_empty()) {
        (Some(copy), _) => Some(copy.checkout.path()),
        (None, false) => Some(names.real(&place.checkout, place, "checkout")?.path()),
        (None, true) => None,
    };
    paths
        .iter()
        .map(|path| {
            let real = names.real(path, place, "file")?;
            let mut named = if let Some(copy) = &copy
                && let Some(rest) = real.under(&copy.checkout)
            {
                Identity {
                    file: join_under(&copy.workspace.path(), rest),
                    checkout: copy.checkout.path(),
                }
            } else {
                let (file, worktree) = names.in_repository(&real)?;
                Identity {
                    file,
                    checkout: checkout.clone().or(worktree).unwrap_or_default(),
                }
            };
            // A directory hold is named as a directory (see `pattern.rs`).
            if path.ends_with('/') && !named.file.ends_with('/') {
                named.file.push('/');
            }
            Ok(named)
        })
        .collect()
}

/// A checkout of a workspace git does not link: both real.
struct Copy {
    workspace: Real,
    checkout: Real,
}

/// A resolved absolute path: its components, of which the first `existing` were
/// found on disk (the rest are kept as written).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Real {
    parts: Vec<String>,
    existing: usize,
}

impl Real {
    fn path(&self) -> String {
        join(&self.parts)
    }

    /// The components after `prefix`, when `self` is `prefix` or beneath it.
    fn under(&self, prefix: &Real) -> Option<&[String]> {
        self.parts.strip_prefix(prefix.parts.as_slice())
    }
}

fn join(parts: &[String]) -> String {
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    out
}

fn join_under(base: &str, rest: &[String]) -> String {
    let mut out = base.trim_end_matches('/').to_string();
    for part in rest {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

struct Namer<'a, F> {
    fs: &'a mut F,
    /// What each inspected path held (one call's paths share their directories).
    nodes: BTreeMap<String, Node>,
}

impl<F: Filesystem> Namer<'_, F> {
    fn node(&mut self, path: &str) -> Node {
        if let Some(node) = self.nodes.get(path) {
            return node.clone();
        }
        let node = self.fs.inspect(path);
        self.nodes.insert(path.to_string(), node.clone());
        node
    }

    fn copy(&mut self, place: &Place) -> Result<Option<Copy>, Error> {
        match (place.workspace.is_empty(), place.checkout.is_empty()) {
            (true, _) => Ok(None),
            (false, true) => Err(Error::invalid(
                "workspace",
                format!(
                    "the workspace {:?} is set without a checkout: set the checkout (the agent's copy of the workspace) too",
                    place.workspace
                ),
            )),
            (false, false) => Ok(Some(Copy {
                workspace: self.real(&place.workspace, place, "workspace")?,
                checkout: self.real(&place.checkout, place, "checkout")?,
            })),
        }
    }

    /// `path` absolute (relative ones start at `place.cwd`), resolved.
    fn real(&mut self, path: &str, place: &Place, field: &str) -> Result<Real, Error> {
        if path.is_empty() {
            return Err(Error::invalid(field, "the path is empty"));
        }
        if path.contains('\0') {
            return Err(Error::invalid(field, "the path contains a NUL byte"));
        }
        let absolute = if path.starts_with('/') {
            path.to_string()
        } else if place.cwd.starts_with('/') {
            format!("{}/{path}", place.cwd)
        } else {
            return Err(Error::invalid(
                field,
                format!(
                    "the path {path:?} is relative and the working directory {:?} is not absolute",
                    place.cwd
                ),
            ));
        };
        self.resolve(&absolute, field)
    }

    /// Resolve the symlinks of the longest existing prefix of `absolute`.
    fn resolve(&mut self, absolute: &str, field: &str) -> Result<Real, Error> {
        // A stack: the next component is last.
        let mut pending: Vec<String> = absolute.split('/').rev().map(str::to_string).collect();
        let mut real = Real {
            parts: Vec::new(),
            existing: 0,
        };
        let mut links = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => {}
                ".." => {
                    real.parts.pop();
                    real.existing = real.existing.min(real.parts.len());
                }
                _ if real.existing < real.parts.len() => real.parts.push(part),
                _ => {
                    let mut candidate = join(&real.parts);
                    if !real.parts.is_empty() {
                        candidate.push('/');
                    }
                    candidate.push_str(&part);
                    match self.node(&candidate) {
                        Node::Symlink(target) => {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(Error::invalid(
                                    field,
                                    format!(
                                        "{absolute:?} has more than {MAX_SYMLINKS} levels of symbolic links"
                                    ),
                                ));
                            }
                            if target.starts_with('/') {
                                real.parts.clear();
                                real.existing = 0;
                            }
                            pending.extend(target.split('/').rev().map(str::to_string));
                        }
                        Node::Missing => real.parts.push(part),
                        Node::Directory | Node::File | Node::Other => {
                            real.parts.push(part);
                            real.existing += 1;
                        }
                    }
                }
            }
        }
        Ok(real)
    }

    /// `real` named under its repository's main worktree, and the outermost
    /// worktree it was seen through (`None` outside any repository).
    fn in_repository(&mut self, real: &Real) -> Result<(String, Option<String>), Error> {
        // A worktree's root is a directory: an existing file's own path is none.
        let deepest = match real.existing {
            0 => 0,
            n if self.nodes.get(&join(&real.parts[..n])) == Some(&Node::Directory) => n,
            n => n - 1,
        };
        for depth in (0..=deepest).rev() {
            let root = Real {
                parts: real.parts[..depth].to_vec(),
                existing: depth,
            };
            let Some(main) = self.main_worktree(&root)? else {
                continue;
            };
            let rest = &real.parts[depth..];
            if main != root.path() {
                return Ok((join_under(&main, rest), Some(root.path())));
            }
            // A repository of its own (a main worktree, a submodule): named
            // through the worktree that encloses it, if one does.
            let Some((name, parent)) = root.parts.split_last() else {
                return Ok((real.path(), Some(root.path())));
            };
            let parent = Real {
                parts: parent.to_vec(),
                existing: depth - 1,
            };
            return Ok(match self.in_repository(&parent)? {
                (outer_name, Some(outer)) => {
                    let named = join_under(&outer_name, std::slice::from_ref(name));
                    (join_under(&named, rest), Some(outer))
                }
                (_, None) => (real.path(), Some(root.path())),
            });
        }
        Ok((real.path(), None))
    }

    /// When `root` is a git worktree: the path its repository's main worktree is
    /// named by (`root` itself for a main worktree).
    fn main_worktree(&mut self, root: &Real) -> Result<Option<String>, Error> {
        let mut dot_git = join_under(&root.path(), &[".git".to_string()]);
        let mut node = self.node(&dot_git);
        if let Node::Symlink(_) = node {
            dot_git = self.resolve(&dot_git, "file")?.path();
            node = self.node(&dot_git);
        }
        match node {
            Node::Directory => Ok(Some(root.path())),
            Node::File => self.linked_main(root, &dot_git).map(Some),
            _ => Ok(None),
        }
    }

    /// The main worktree of the worktree at `root`, whose `.git` is a file
    /// (`gitdir: DIR`): DIR's `commondir` names the repository's git dir, whose
    /// parent is the main worktree (a bare repository: the git dir itself). A
    /// git dir without `commondir` (a submodule's, a separate git dir) is the
    /// repository's own: `root` is its main worktree.
    fn linked_main(&mut self, root: &Real, dot_git: &str) -> Result<String, Error> {
        let Some(git_dir) = self
            .fs
            .read_link_file(dot_git)
            .and_then(|text| {
                text.trim_end()
                    .strip_prefix("gitdir:")
                    .map(|d| d.trim().to_string())
            })
            .filter(|d| !d.is_empty())
        else {
            return Ok(root.path());
        };
        let place = Place {
            cwd: root.path(),
            ..Place::default()
        };
        let git_dir = self.real(&git_dir, &place, "file")?.path();
        let Some(common) = self
            .fs
            .read_link_file(&join_under(&git_dir, &["commondir".to_string()]))
            .map(|text| text.trim_end().to_string())
            .filter(|c| !c.is_empty())
        else {
            return Ok(root.path());
        };
        let place = Place {
            cwd: git_dir,
            ..Place::default()
        };
        let common = self.real(&common, &place, "file")?;
        Ok(match common.parts.split_last() {
            Some((last, parent)) if last == ".git" => join(parent),
            _ => common.path(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filesystem of absolute paths: directories, files (with text) and links.
    #[derive(Default)]
    struct Disk {
        nodes: BTreeMap<String, Node>,
        texts: BTreeMap<String, String>,
        inspected: usize,
    }

    impl Disk {
        fn dir(mut self, path: &str) -> Self {
            let mut at = String::new();
            for part in path.split('/').filter(|p| !p.is_empty()) {
                at.push('/');
                at.push_str(part);
                self.nodes.entry(at.clone()).or_insert(Node::Directory);
            }
            self
        }

        fn file(mut self, path: &str, text: &str) -> Self {
            let (parent, _) = path.rsplit_once('/').unwrap();
            self = self.dir(parent);
            self.nodes.insert(path.into(), Node::File);
            self.texts.insert(path.into(), text.into());
            self
        }

        fn link(mut self, path: &str, target: &str) -> Self {
            let (parent, _) = path.rsplit_once('/').unwrap();
            self = self.dir(parent);
            self.nodes.insert(path.into(), Node::Symlink(target.into()));
            self
        }

        /// A repository at `main` with linked worktrees at `linked`.
        fn repo(mut self, main: &str, linked: &[&str]) -> Self {
            self = self.dir(&format!("{main}/.git/worktrees"));
            for wt in linked {
                let name = wt.rsplit('/').next().unwrap();
                let admin = format!("{main}/.git/worktrees/{name}");
                self = self
                    .file(&format!("{wt}/.git"), &format!("gitdir: {admin}\n"))
                    .file(&format!("{admin}/commondir"), "../..\n")
                    .file(&format!("{admin}/gitdir"), &format!("{wt}/.git\n"));
            }
            self
        }
    }

    impl Filesystem for Disk {
        fn inspect(&mut self, path: &str) -> Node {
            self.inspected += 1;
            self.nodes.get(path).cloned().unwrap_or(Node::Missing)
        }

        fn read_link_file(&mut self, path: &str) -> Option<String> {
            self.texts.get(path).cloned()
        }
    }

    fn at(cwd: &str) -> Place {
        Place {
            cwd: cwd.into(),
            ..Place::default()
        }
    }

    fn one(disk: &mut Disk, path: &str, place: &Place) -> Identity {
        identify(disk, &[path.to_string()], place)
            .unwrap()
            .remove(0)
    }

    fn id(file: &str, checkout: &str) -> Identity {
        Identity {
            file: file.into(),
            checkout: checkout.into(),
        }
    }

    #[test]
    fn outside_any_repository_a_path_is_its_cleaned_real_path() {
        let mut disk = Disk::default().dir("/tmp/w/src");
        assert_eq!(
            one(&mut disk, "/tmp/w//src/./a.rs", &at("/")),
            id("/tmp/w/src/a.rs", "")
        );
        assert_eq!(
            one(&mut disk, "src/a.rs", &at("/tmp/w")),
            id("/tmp/w/src/a.rs", "")
        );
        assert_eq!(
            one(&mut disk, "/nowhere/x/../y", &at("/")),
            id("/nowhere/y", "")
        );
        assert_eq!(one(&mut disk, "/", &at("/")), id("/", ""));
    }

    #[test]
    fn symlinks_resolve_for_the_longest_existing_prefix() {
        let mut disk = Disk::default()
            .dir("/data/repo/src")
            .link("/home/me/link", "/data/repo")
            .link("/data/repo/rel", "src")
            .link("/data/repo/src/up", "../..");
        // The link itself, a file that does not exist yet beneath it, a relative link.
        assert_eq!(
            one(&mut disk, "/home/me/link/src/new.rs", &at("/")).file,
            "/data/repo/src/new.rs"
        );
        assert_eq!(
            one(&mut disk, "link/rel/a.rs", &at("/home/me")).file,
            "/data/repo/src/a.rs"
        );
        // `..` after a link steps out of the link's target, not out of the link's parent.
        assert_eq!(
            one(&mut disk, "/home/me/link/../x", &at("/")).file,
            "/data/x"
        );
        assert_eq!(
            one(&mut disk, "/data/repo/src/up/f", &at("/")).file,
            "/data/f"
        );
    }

    #[test]
    fn a_middle_component_that_is_a_symlink_is_resolved() {
        let mut disk = Disk::default()
            .dir("/srv/real/sub")
            .link("/srv/real/mid", "sub");
        assert_eq!(
            one(&mut disk, "/srv/real/mid/deep/f.rs", &at("/")).file,
            "/srv/real/sub/deep/f.rs"
        );
    }

    #[test]
    fn a_symlink_loop_is_invalid_input_naming_the_path() {
        let mut disk = Disk::default().link("/l/a", "b").link("/l/b", "a");
        match identify(&mut disk, &["/l/a/f".to_string()], &at("/")) {
            Err(Error::InvalidInput(i)) => {
                assert_eq!(i.field, "file");
                assert!(i.reason.contains("symbolic links"), "{}", i.reason);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_worktree_of_a_repository_names_a_file_under_the_main_one() {
        let mut disk = Disk::default()
            .dir("/src/repo/src")
            .repo("/src/repo", &["/src/wt2", "/src/wt3"]);
        for (path, cwd, checkout) in [
            ("/src/repo/src/lib.rs", "/", "/src/repo"),
            ("src/lib.rs", "/src/repo", "/src/repo"),
            ("src/lib.rs", "/src/wt2", "/src/wt2"),
            ("../wt3/src/lib.rs", "/src/wt2", "/src/wt3"),
            ("lib.rs", "/src/wt3/src", "/src/wt3"),
        ] {
            assert_eq!(
                one(&mut disk, path, &at(cwd)),
                id("/src/repo/src/lib.rs", checkout),
                "{path} in {cwd}"
            );
        }
        // The worktree's root itself.
        assert_eq!(
            one(&mut disk, "/src/wt2", &at("/")),
            id("/src/repo", "/src/wt2")
        );
    }

    #[test]
    fn a_bare_repositorys_worktrees_share_its_common_dir_as_root() {
        let mut disk = Disk::default()
            .dir("/git/proj.git/worktrees")
            .file("/w/a/.git", "gitdir: /git/proj.git/worktrees/a\n")
            .file("/git/proj.git/worktrees/a/commondir", "../..\n")
            .file("/w/b/.git", "gitdir: ../../git/proj.git/worktrees/b")
            .file("/git/proj.git/worktrees/b/commondir", "/git/proj.git\n");
        assert_eq!(
            one(&mut disk, "/w/a/x.rs", &at("/")),
            id("/git/proj.git/x.rs", "/w/a")
        );
        assert_eq!(
            one(&mut disk, "/w/b/x.rs", &at("/")),
            id("/git/proj.git/x.rs", "/w/b")
        );
    }

    #[test]
    fn a_symlinked_worktree_and_a_symlinked_git_dir_resolve() {
        let mut disk = Disk::default()
            .dir("/real/repo/src")
            .repo("/real/repo", &["/real/wt"])
            .link("/home/link", "/real/wt");
        assert_eq!(
            one(&mut disk, "/home/link/src/a.rs", &at("/")),
            id("/real/repo/src/a.rs", "/real/wt")
        );
    }

    #[test]
    fn a_submodule_in_a_linked_worktree_is_named_through_the_main_worktree() {
        let mut disk = Disk::default()
            .dir("/src/repo/sub")
            .repo("/src/repo", &["/src/wt2"])
            .file("/src/repo/sub/.git", "gitdir: ../.git/modules/sub\n")
            .dir("/src/repo/.git/modules/sub")
            .file(
                "/src/wt2/sub/.git",
                "gitdir: /src/repo/.git/worktrees/wt2/modules/sub\n",
            )
            .dir("/src/repo/.git/worktrees/wt2/modules/sub");
        assert_eq!(
            one(&mut disk, "/src/wt2/sub/f.c", &at("/")),
            id("/src/repo/sub/f.c", "/src/wt2")
        );
        assert_eq!(
            one(&mut disk, "/src/repo/sub/f.c", &at("/")),
            id("/src/repo/sub/f.c", "/src/repo")
        );
    }

    #[test]
    fn a_checkout_maps_onto_its_workspace() {
        let mut disk = Disk::default()
            .dir("/ws/src")
            .dir("/agents/a1/src")
            .dir("/other");
        let place = Place {
            cwd: "/agents/a1".into(),
            workspace: "/ws".into(),
            checkout: "/agents/a1".into(),
        };
        assert_eq!(
            one(&mut disk, "src/x.rs", &place),
            id("/ws/src/x.rs", "/agents/a1")
        );
        assert_eq!(
            one(&mut disk, "/ws/src/x.rs", &place),
            id("/ws/src/x.rs", "/agents/a1")
        );
        assert_eq!(
            one(&mut disk, "/other/y", &place),
            id("/other/y", "/agents/a1")
        );
        // A sibling that merely shares the checkout's name prefix is not under it.
        assert_eq!(
            one(&mut disk, "/agents/a10/z", &place).file,
            "/agents/a10/z"
        );
    }

    #[test]
    fn a_checkout_alone_is_stored_and_a_workspace_alone_is_refused() {
        let mut disk = Disk::default().dir("/co");
        let place = Place {
            cwd: "/".into(),
            checkout: "/co".into(),
            ..Place::default()
        };
        assert_eq!(one(&mut disk, "/x", &place), id("/x", "/co"));
        let place = Place {
            cwd: "/".into(),
            workspace: "/ws".into(),
            ..Place::default()
        };
        match identify(&mut disk, &["/x".to_string()], &place) {
            Err(Error::InvalidInput(i)) => assert_eq!(i.field, "workspace"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_paths_are_invalid_input() {
        let mut disk = Disk::default();
        for (path, cwd) in [("", "/"), ("a\0b", "/"), ("rel", ""), ("rel", "also-rel")] {
            match identify(&mut disk, &[path.to_string()], &at(cwd)) {
                Err(Error::InvalidInput(i)) => assert_eq!(i.field, "file", "{path:?}"),
                other => panic!("{path:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn paths_of_one_call_share_what_was_inspected() {
        let mut disk = Disk::default()
            .dir("/src/repo/src")
            .repo("/src/repo", &["/src/wt2"]);
        // Half of them exist, half do not yet.
        for i in 0..50 {
            disk = disk.file(&format!("/src/wt2/src/f{i}.rs"), "");
        }
        let paths: Vec<String> = (0..100).map(|i| format!("/src/wt2/src/f{i}.rs")).collect();
        let ids = identify(&mut disk, &paths, &at("/")).unwrap();
        assert_eq!(ids[99], id("/src/repo/src/f99.rs", "/src/wt2"));
        // Each file's own lstat, plus the directories' once.
        assert!(disk.inspected < 100 + 20, "{} inspections", disk.inspected);
    }
}
