// Saved views (GET/POST/DELETE /api/v1/views): the board's and list's
// current filters, filter-language text included, saved under a name; a
// view opens by putting its filters into the URL, so the link of an open
// view works for anyone (their own visibility applies), and /?saved=NAME
// alone opens my view of that name.  The API has no rename: a rename saves
// the view under the new name, then deletes the old one.
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, call, client, type SavedView } from './api';
import { FILTER_KEYS, href, navigate, type Filter, type Route } from './route';
import { Dialog, Empty, ErrorNote, FieldError, ItemButton, Loading, copyText, invalid, say, toApiError, useLoad } from './ui';

/** A stored filter as the URL's strings (lists joined by commas, as the API reads them). */
export function viewFilter(v: SavedView): Filter {
  const f: Filter = {};
  for (const k of FILTER_KEYS) {
    const val = (v.filter as Record<string, unknown>)[k];
    if (val === undefined || val === null || val === '') continue;
    f[k] = Array.isArray(val) ? val.join(',') : String(val);
  }
  return f;
}

const same = (a: Filter, b: Filter) => FILTER_KEYS.every((k) => (a[k] ?? '') === (b[k] ?? ''));
const eq = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

function linkOf(v: SavedView, route: Route): string {
  return href({ view: route.view === 'list' ? 'list' : 'board', task: null, team: null, filter: viewFilter(v), saved: v.name });
}

// the default view applies once, to a page opened on the plain board or list
let defaultChecked = false;

function SaveForm({ route, views, onSaved }: { route: Route; views: SavedView[]; onSaved: (v: SavedView) => void }) {
  const [name, setName] = useState(route.saved ?? '');
  const [isDefault, setDefault] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function save(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const old = views.find((v) => eq(v.name, name));
    if (old && !window.confirm(`Replace the saved view “${old.name}” with the current filters?`)) return;
    try {
      const v = await call(() => client.POST('/api/v1/views', { body: { name: name.trim(), filter: { ...route.filter }, default: isDefault } }));
      say(`View “${v.name}” saved.`);
      onSaved(v);
    } catch (err) {
      setError(toApiError(err));
    }
  }
  const fieldErr = error?.field('name') || error?.field('default');
  return (
    <form className="save-view" onSubmit={save} aria-labelledby="save-view-title">
      <h3 id="save-view-title">Save the current filters</h3>
      <p className="muted" id="save-view-what">{describe(route.filter)}</p>
      <label htmlFor="view-name">View name</label>
      <input id="view-name" value={name} required maxLength={100} data-autofocus onChange={(e) => setName(e.target.value)}
        aria-describedby="save-view-what" {...invalid(error, 'name', 'e-view-name')} />
      <FieldError error={error} field="name" id="e-view-name" />
      <label className="check"><input type="checkbox" checked={isDefault} onChange={(e) => setDefault(e.target.checked)} /> Open it when I sign in (default view)</label>
      <ErrorNote error={error && !fieldErr ? error : null} />
      <button type="submit" className="primary">Save view</button>
    </form>
  );
}

/** The filters in words, for the save form and each view's row. */
function describe(f: Filter): string {
  const parts = FILTER_KEYS.filter((k) => f[k]).map((k) => `${k === 'q' ? 'search' : k}: ${f[k]}`);
  return parts.length ? parts.join(' · ') : 'No filters (every task you can see).';
}

function ViewRow({ v, route, views, onChanged, onOpen }: {
  v: SavedView; route: Route; views: SavedView[]; onChanged: (renamed?: [string, string]) => Promise<void>; onOpen: () => void;
}) {
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(v.name);
  const [error, setError] = useState<ApiError | null>(null);
  const link = linkOf(v, route);
  const id = `view-${v.id}`;

  async function rename(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const to = name.trim();
    if (views.some((o) => o.id !== v.id && eq(o.name, to))) {
      setError(new ApiError(422, { detail: 'Another view has this name.', errors: [{ field: 'name', message: 'another view of yours has this name' }] }));
      return;
    }
    try {
      // the same name in other letter case updates the row in place; another name is a new row
      await call(() => client.POST('/api/v1/views', { body: { name: to, filter: v.filter, default: v.is_default } }));
      if (!eq(to, v.name)) await call(() => client.DELETE('/api/v1/views/{name}', { params: { path: { name: v.name } } }));
      say(`View renamed to “${to}”.`);
      setRenaming(false);
      await onChanged([v.name, to]);
    } catch (err) {
      setError(toApiError(err));
    }
  }

  async function remove() {
    if (!window.confirm(`Delete the saved view “${v.name}”?`)) return;
    try {
      await call(() => client.DELETE('/api/v1/views/{name}', { params: { path: { name: v.name } } }));
      say(`View “${v.name}” deleted.`);
      await onChanged();
    } catch (err) {
      setError(toApiError(err));
    }
  }

  return (
    <li className="view-row" data-view={v.name}>
      {renaming ? (
        <form className="inline-form" onSubmit={rename}>
          <label htmlFor={`${id}-name`}>New name for {v.name}</label>
          <input id={`${id}-name`} value={name} required maxLength={100} autoFocus onChange={(e) => setName(e.target.value)}
            {...invalid(error, 'name', `e-${id}`)} />
          <button type="submit" className="primary">Rename</button>
          <button type="button" onClick={() => { setRenaming(false); setName(v.name); setError(null); }}>Cancel</button>
          <FieldError error={error} field="name" id={`e-${id}`} />
        </form>
      ) : (
        <>
          <div className="view-name">
            <a href={link} data-nav onClick={(e) => { e.preventDefault(); onOpen(); navigate(link); }}>{v.name}</a>
            {v.is_default && <span className="tag">default</span>}
            <div className="muted small-text">{describe(viewFilter(v))}</div>
          </div>
          <div className="actions">
            <ItemButton label="Copy link" item={`to ${v.name}`} className="small" onClick={() => copyText(location.origin + link, 'Link')} />
            <ItemButton label="Rename" item={v.name} className="small" onClick={() => { setRenaming(true); setError(null); }} />
            <ItemButton label="Delete" item={v.name} className="small danger" onClick={remove} />
          </div>
        </>
      )}
      <ErrorNote error={error && !error.field('name') ? error : null} />
    </li>
  );
}

/** The saved-views button (with its dialog) and the name of the open view. */
export function ViewsBar({ route }: { route: Route }) {
  const views = useLoad(() => call(() => client.GET('/api/v1/views')), []);
  const [open, setOpen] = useState(false);
  const list = views.data ?? [];
  const current = route.saved ? list.find((v) => eq(v.name, route.saved!)) : undefined;
  const noFilters = FILTER_KEYS.every((k) => !route.filter[k]);

  useEffect(() => {
    if (!views.data) return;
    if (route.saved && noFilters) {
      // /?saved=NAME: open my view of that name
      const v = views.data.find((x) => eq(x.name, route.saved!));
      if (!v) say(`You have no saved view named “${route.saved}”.`, 'warn');
      else if (!noFiltersOf(v)) navigate(linkOf(v, route), true);
    } else if (!defaultChecked && !route.saved && noFilters) {
      const d = views.data.find((x) => x.is_default);
      if (d) navigate(linkOf(d, route), true);
    }
    defaultChecked = true;
  }, [views.data, route.saved]); // eslint-disable-line react-hooks/exhaustive-deps

  async function changed(renamed?: [string, string]) {
    await views.reload();
    if (renamed && route.saved && eq(route.saved, renamed[0])) navigate(href({ saved: renamed[1] }, route), true);
  }

  async function update() {
    if (!current) return;
    try {
      await call(() => client.POST('/api/v1/views', { body: { name: current.name, filter: { ...route.filter }, default: current.is_default } }));
      say(`View “${current.name}” updated.`);
      await views.reload();
    } catch (err) {
      say(toApiError(err).message, 'error');
    }
  }

  return (
    <div className="views-bar">
      <button type="button" id="views-button" aria-haspopup="dialog" aria-keyshortcuts="v" onClick={() => setOpen(true)}>
        Saved views{list.length ? ` (${list.length})` : ''}
      </button>
      {route.saved && (
        <span className="view-chip" id="open-view">
          View: <strong>{route.saved}</strong>
          {current && !same(viewFilter(current), route.filter) && (
            <>
              {' '}<span className="muted">(changed)</span>{' '}
              <button type="button" className="link" onClick={update}>Update the view</button>
            </>
          )}
        </span>
      )}
      <Dialog id="views-dialog" open={open} onClose={() => setOpen(false)} title="Saved views">
        <SaveForm route={route} views={list} onSaved={(v) => { void views.reload(); navigate(href({ saved: v.name }, route), true); setOpen(false); }} />
        <h3>Your views</h3>
        {views.loading && !views.data && <Loading what="saved views" />}
        <ErrorNote error={views.error} />
        {views.data && list.length === 0 && <Empty>No saved views yet. Set some filters and save them above.</Empty>}
        <ul className="views" id="views-list">
          {list.map((v) => <ViewRow key={v.id} v={v} route={route} views={list} onChanged={changed} onOpen={() => setOpen(false)} />)}
        </ul>
      </Dialog>
    </div>
  );
}

function noFiltersOf(v: SavedView): boolean {
  return FILTER_KEYS.every((k) => !viewFilter(v)[k]);
}
