// Teams: create one, see its members, add and remove members and change
// roles. What is offered follows the rules of the API (leads and owners
// manage members and leads; only owners and admins touch owners; anyone may
// leave); the API has the last word and its refusals show here.
import { useState, type FormEvent } from 'react';
import { ApiError, call, client, type DirectoryEntry, type Member, type Team } from './api';
import { href, navigate, type Route } from './route';
import { Empty, ErrorNote, FieldError, invalid, say, toApiError, useLoad, useSession } from './ui';

type Role = Member['role'];
const ROLES: Role[] = ['member', 'lead', 'owner'];

function UserSearch({ onPick, exclude }: { onPick: (u: DirectoryEntry | null) => void; exclude: Set<number> }) {
  const [q, setQ] = useState('');
  const users = useLoad(() => call(() => client.GET('/api/v1/users', { params: { query: { q, limit: 20 } } })), [q]);
  const options = (users.data ?? []).filter((u) => !exclude.has(u.id));
  return (
    <>
      <label htmlFor="member-search">Find a person</label>
      <input id="member-search" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="name or email" />
      <label htmlFor="member-pick">Person</label>
      <select id="member-pick" onChange={(e) => onPick(options.find((u) => String(u.id) === e.target.value) ?? null)} defaultValue="">
        <option value="">{options.length ? 'Choose…' : 'Nobody found'}</option>
        {options.map((u) => <option key={u.id} value={u.id}>{u.display_name} ({u.email})</option>)}
      </select>
    </>
  );
}

function TeamPanel({ team, onChanged }: { team: Team; onChanged: () => Promise<void> }) {
  const { me } = useSession();
  const mine = team.members.find((m) => m.user_id === me.id)?.role;
  const admin = me.role === 'admin';
  const manages = admin || mine === 'lead' || mine === 'owner';
  const ownerPowers = admin || mine === 'owner';
  const [pick, setPick] = useState<DirectoryEntry | null>(null);
  const [role, setRole] = useState<Role>('member');
  const [error, setError] = useState<ApiError | null>(null);

  async function run(fn: () => Promise<unknown>, ok: string) {
    setError(null);
    try {
      await fn();
      say(ok);
      await onChanged();
    } catch (e) {
      setError(toApiError(e));
    }
  }
  const setMember = (user_id: number, r: Role, ok: string) => run(
    () => call(() => client.POST('/api/v1/teams/{id}/members', { params: { path: { id: team.id } }, body: { user_id, role: r } })), ok);
  const remove = (m: Member) => {
    const self = m.user_id === me.id;
    if (!window.confirm(self ? `Leave ${team.name}?` : `Remove ${m.display_name} from ${team.name}?`)) return;
    void run(() => call(() => client.DELETE('/api/v1/teams/{id}/members/{user_id}', { params: { path: { id: team.id, user_id: m.user_id } } })),
      self ? `You left ${team.name}.` : `${m.display_name} was removed.`);
  };
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (pick) void setMember(pick.id, role, `${pick.display_name} was added as ${role}.`);
  };
  const rolesFor = (m: Member) => ROLES.filter((r) => ownerPowers || (r !== 'owner' && m.role !== 'owner'));

  return (
    <section className="card" aria-labelledby="team-title">
      <h2 id="team-title">{team.name}</h2>
      <p className="muted">Your role: {mine ?? (admin ? 'admin' : 'none')}</p>
      <ErrorNote error={error} />
      <div className="table-wrap">
      <table className="members">
        <caption className="sr-only">Members of {team.name}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col" className="col-email">Email</th><th scope="col">Role</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {team.members.map((m) => {
            const canEdit = manages && (ownerPowers || m.role !== 'owner');
            return (
              <tr key={m.user_id}>
                <td>{m.display_name}{m.user_id === me.id && ' (you)'}</td>
                <td className="col-email">{m.email}</td>
                <td>
                  {canEdit ? (
                    <select aria-label={`Role of ${m.display_name}`} value={m.role}
                      onChange={(e) => void setMember(m.user_id, e.target.value as Role, `${m.display_name} is now ${e.target.value}.`)}>
                      {rolesFor(m).map((r) => <option key={r} value={r}>{r}</option>)}
                    </select>
                  ) : m.role}
                </td>
                <td>
                  {(canEdit || m.user_id === me.id) && (
                    <button type="button" className="link danger" onClick={() => remove(m)}>
                      {m.user_id === me.id ? 'Leave' : <>Remove<span className="sr-only"> {m.display_name}</span></>}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      </div>
      {manages && (
        <form className="add-member" onSubmit={add} aria-label="Add a member">
          <h3>Add a member</h3>
          <UserSearch onPick={setPick} exclude={new Set(team.members.map((m) => m.user_id))} />
          <label htmlFor="member-role">Role</label>
          <select id="member-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.filter((r) => ownerPowers || r !== 'owner').map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
          <button type="submit" className="primary" disabled={!pick}>Add</button>
        </form>
      )}
    </section>
  );
}

export function TeamsScreen({ route }: { route: Route }) {
  const { teams, reloadTeams } = useSession();
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const selected = teams.find((t) => t.id === route.team) ?? teams[0];

  async function create(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const t = await call(() => client.POST('/api/v1/teams', { body: { name } }));
      setName('');
      say(`Team ${t.name} created.`);
      await reloadTeams();
      navigate(href({ view: 'teams', team: t.id }));
    } catch (err) {
      setError(toApiError(err));
    }
  }

  return (
    <main id="main" aria-labelledby="screen-title">
      <h1 id="screen-title">Teams</h1>
      <div className="teams-layout">
        <nav className="card team-list" aria-label="Your teams">
          {teams.length === 0 ? <Empty>You are in no team yet. Create one below.</Empty> : (
            <ul>
              {teams.map((t) => (
                <li key={t.id}>
                  <a href={href({ view: 'teams', team: t.id })} data-nav aria-current={t.id === selected?.id ? 'page' : undefined}
                    onClick={(e) => { e.preventDefault(); navigate(href({ view: 'teams', team: t.id })); }}>
                    {t.name} <span className="muted">({t.members.length})</span>
                  </a>
                </li>
              ))}
            </ul>
          )}
          <form onSubmit={create} className="create-team">
            <label htmlFor="team-name">New team</label>
            <input id="team-name" value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} {...invalid(error, 'name', 'e-team-name')} />
            <FieldError error={error} field="name" id="e-team-name" />
            <button type="submit" className="primary">Create team</button>
            <ErrorNote error={error && !error.field('name') ? error : null} />
          </form>
        </nav>
        {selected && <TeamPanel key={selected.id} team={selected} onChanged={reloadTeams} />}
      </div>
    </main>
  );
}
