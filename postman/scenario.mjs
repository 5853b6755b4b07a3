// The order the collection runs in, for postman/build.mjs. Each step calls one operation of openapi.yaml
// ("METHOD /path" as the spec writes it) and must answer one of its documented statuses. build.mjs adds the
// checks the spec implies (status, Content-Type, required headers, body schema); `checks` adds the step's own.
//
// The functions below are not run here: build.mjs copies their source into the collection as Postman
// scripts, where `pm` and (in `checks`, `until` and `onRetry`) the parsed JSON `body` exist.
// `until` makes a step poll: the request is sent again (pm.execution.setNextRequest, every pollIntervalMs,
// at most pollAttempts times) until it returns true, because the consumer stores what POST /events accepted
// a moment later; `onRetry` runs before each new attempt. A fresh stack is enough: the first step makes a new
// match for every run, so the collection can also run again and again against `make run`.

/* global pm, body */

export const variables = { pollAttempts: 180, pollIntervalMs: 500 };

const matchPath = { match_id: '{{matchId}}' };

export const folders = [
  {
    name: 'Service',
    description: 'The health check and the match centre page: nothing to set up.',
    steps: [
      {
        name: 'GET /health',
        op: 'GET /health',
        status: 200,
        checks: () => {
          pm.test('the API is up', () => pm.expect(body.status).to.equal('ok'));
        },
      },
      {
        name: 'GET /config',
        op: 'GET /config',
        status: 200,
      },
      {
        name: 'GET / (the match centre page)',
        op: 'GET /',
        status: 200,
        checks: () => {
          pm.test('an HTML page', () => pm.expect(pm.response.text()).to.match(/<html/i));
        },
      },
      {
        name: 'GET /assets/app.js',
        op: 'GET /assets/{name}',
        path: { name: 'app.js' },
        status: 200,
        checks: () => {
          pm.test('the script is not empty', () => pm.expect(pm.response.text().length).to.be.above(0));
        },
      },
      {
        name: 'GET /assets/{name}: no such asset (404)',
        op: 'GET /assets/{name}',
        path: { name: 'no-such-asset.js' },
        status: 404,
      },
    ],
  },
  {
    name: 'Ingest',
    description: 'POST /events: a new match (its id and timestamps made by the first step), then the refusals.',
    steps: [
      {
        name: 'POST /events: a batch',
        op: 'POST /events',
        description: 'Starts a new match for this run: sets matchId, matchDay and the events\' timestamps.',
        status: 202,
        prerequest: () => {
          // A new match on every run, its events from ten minutes ago on: live, and the latest activity.
          const start = Date.now() - 10 * 60 * 1000;
          const at = (seconds) => new Date(start + seconds * 1000).toISOString();
          const suffix = Math.random().toString(36).slice(2, 8);
          pm.collectionVariables.set('matchId', `postman-${start.toString(36)}-${suffix}`);
          pm.collectionVariables.set('matchDay', at(0).slice(0, 10));
          const seconds = { kickOffAt: 0, pass1At: 60, pass2At: 120, shotAt: 180, saveAt: 182, goalAt: 240,
            foulAt: 300, cardAt: 330, pass3At: 360 };
          for (const [name, offset] of Object.entries(seconds)) pm.collectionVariables.set(name, at(offset));
        },
        body: {
          events: [
            { match_id: '{{matchId}}', event_id: 'pm-kick-off', event_type: 'kick_off', timestamp: '{{kickOffAt}}',
              period: 1, minute: 0, second: 0 },
            { match_id: '{{matchId}}', event_id: 'pm-pass-1', event_type: 'pass', timestamp: '{{pass1At}}',
              team_id: 'home', player_id: 'h7', related_player_id: 'h9', outcome: 'complete', period: 1,
              minute: 1, second: 0, x: 40, y: 52.5 },
            { match_id: '{{matchId}}', event_id: 'pm-pass-2', event_type: 'pass', timestamp: '{{pass2At}}',
              team_id: 'away', player_id: 'a4', outcome: 'incomplete', period: 1, minute: 2, second: 0 },
            { match_id: '{{matchId}}', event_id: 'pm-shot-1', event_type: 'shot', timestamp: '{{shotAt}}',
              team_id: 'home', player_id: 'h9', outcome: 'saved', period: 1, minute: 3, second: 0, x: 88, y: 45,
              xg: 0.12, body_part: 'left_foot', end_x: 100, end_y: 47 },
            { match_id: '{{matchId}}', event_id: 'pm-save-1', event_type: 'save', timestamp: '{{saveAt}}',
              team_id: 'away', player_id: 'a1', period: 1, minute: 3, second: 2 },
            { match_id: '{{matchId}}', event_id: 'pm-goal-1', event_type: 'goal', timestamp: '{{goalAt}}',
              team_id: 'home', player_id: 'h9', related_player_id: 'h7', period: 1, minute: 4, second: 0,
              x: 94.5, y: 48.25, xg: 0.456, body_part: 'head', end_x: 100, end_y: 51.5 },
            { match_id: '{{matchId}}', event_id: 'pm-foul-1', event_type: 'foul', timestamp: '{{foulAt}}',
              team_id: 'away', player_id: 'a4', period: 1, minute: 5, second: 0 },
            { match_id: '{{matchId}}', event_id: 'pm-card-1', event_type: 'yellow_card', timestamp: '{{cardAt}}',
              team_id: 'away', player_id: 'a4', period: 1, minute: 5, second: 30 },
          ],
        },
        checks: () => {
          pm.test('all 8 events accepted, ids in order', () => {
            pm.expect(body.accepted).to.equal(8);
            pm.expect(body.event_ids).to.eql(['pm-kick-off', 'pm-pass-1', 'pm-pass-2', 'pm-shot-1', 'pm-save-1',
              'pm-goal-1', 'pm-foul-1', 'pm-card-1']);
          });
        },
      },
      {
        name: 'POST /events: one event',
        op: 'POST /events',
        status: 202,
        body: { match_id: '{{matchId}}', event_id: 'pm-pass-3', event_type: 'pass', timestamp: '{{pass3At}}',
          team_id: 'home', player_id: 'h7', related_player_id: 'h11', period: 1, minute: 6, second: 0 },
        checks: () => {
          pm.test('one event accepted', () => pm.expect(body).to.eql({ accepted: 1, event_ids: ['pm-pass-3'] }));
        },
      },
      {
        name: 'POST /events: no token (401)',
        op: 'POST /events',
        auth: 'none',
        status: 401,
        body: { match_id: '{{matchId}}', event_id: 'pm-pass-4', event_type: 'pass', timestamp: '{{pass3At}}',
          team_id: 'home', player_id: 'h7' },
      },
      {
        name: 'POST /events: invalid fields (400)',
        op: 'POST /events',
        status: 400,
        body: { match_id: '{{matchId}}', event_id: 'pm-goal-2', event_type: 'goal', timestamp: '{{goalAt}}',
          team_id: 'home', player_id: 'h9', minute: 200, colour: 'red' },
        checks: () => {
          pm.test('each bad field is named', () => {
            pm.expect(body.errors.map((error) => error.field)).to.include.members(['minute', 'colour']);
          });
        },
      },
      {
        name: 'POST /events: not JSON (415)',
        op: 'POST /events',
        status: 415,
        headers: { 'Content-Type': 'text/plain' },
        body: 'kick_off at 19:00',
      },
      {
        name: 'POST /events: 501 events (413)',
        op: 'POST /events',
        description: 'The body (501 empty events) is made by the pre-request script.',
        status: 413,
        body: '{"events": []}',
        prerequest: () => {
          pm.request.body.update(JSON.stringify({ events: Array.from({ length: 501 }, () => ({})) }));
        },
      },
    ],
  },
  {
    name: 'Reads',
    description: 'What the consumer stored of the match: each step polls until it is there.',
    steps: [
      {
        name: 'GET /matches/{match_id}',
        op: 'GET /matches/{match_id}',
        path: matchPath,
        status: 200,
        until: (body) => body.count === 9,
        checks: () => {
          const events = body.events;
          pm.test('every event, in chronological order', () => {
            pm.expect(body.match_id).to.equal(pm.variables.get('matchId'));
            pm.expect(events.map((event) => event.event_id)).to.eql(['pm-kick-off', 'pm-pass-1', 'pm-pass-2',
              'pm-shot-1', 'pm-save-1', 'pm-goal-1', 'pm-foul-1', 'pm-card-1', 'pm-pass-3']);
            pm.expect(body.next_cursor).to.equal(null);
          });
          pm.test('events are stored as posted, with version and stream position', () => {
            const goal = events.find((event) => event.event_id === 'pm-goal-1');
            pm.expect(goal).to.include({ event_type: 'goal', timestamp: pm.variables.get('goalAt'), team_id: 'home',
              player_id: 'h9', related_player_id: 'h7', period: 1, minute: 4, x: 94.5, y: 48.25, version: 1 });
            for (const event of events) pm.expect(event.received_at, event.event_id).to.match(/Z$/);
          });
          pm.collectionVariables.set('matchEtag', pm.response.headers.get('ETag'));
        },
      },
      {
        name: 'GET /matches/{match_id}: unchanged (304)',
        op: 'GET /matches/{match_id}',
        path: matchPath,
        headers: { 'If-None-Match': '{{matchEtag}}' },
        status: 304,
        checks: () => {
          pm.test('the same ETag', () => pm.expect(pm.response.headers.get('ETag')).to.equal(pm.variables.get('matchEtag')));
        },
      },
      {
        name: 'GET /matches/{match_id}: latest first, one page',
        op: 'GET /matches/{match_id}',
        path: matchPath,
        query: { order: 'desc', limit: '2' },
        status: 200,
        checks: () => {
          pm.test('the two latest events and a cursor', () => {
            pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-pass-3', 'pm-card-1']);
            pm.expect(body.next_cursor).to.be.a('string');
          });
          pm.collectionVariables.set('pageCursor', body.next_cursor);
        },
      },
      {
        name: 'GET /matches/{match_id}: the next page',
        op: 'GET /matches/{match_id}',
        path: matchPath,
        query: { order: 'desc', limit: '2', cursor: '{{pageCursor}}' },
        status: 200,
        checks: () => {
          pm.test('the two events before them', () => {
            pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-foul-1', 'pm-goal-1']);
          });
        },
      },
      {
        name: 'GET /matches/{match_id}: a window of time',
        op: 'GET /matches/{match_id}',
        path: matchPath,
        query: { from: '{{shotAt}}', to: '{{goalAt}}' },
        status: 200,
        checks: () => {
          pm.test('only the events from the shot to the goal', () => {
            pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-shot-1', 'pm-save-1', 'pm-goal-1']);
          });
        },
      },
      {
        name: 'GET /matches/{match_id}/goals',
        op: 'GET /matches/{match_id}/goals',
        path: matchPath,
        status: 200,
        until: (body) => body.count === 1,
        checks: () => {
          pm.test('the goal', () => pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-goal-1']));
        },
      },
      {
        name: 'GET /matches/{match_id}/passes',
        op: 'GET /matches/{match_id}/passes',
        path: matchPath,
        status: 200,
        until: (body) => body.count === 3,
        checks: () => {
          pm.test('the passes, in order', () => {
            pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-pass-1', 'pm-pass-2', 'pm-pass-3']);
            pm.expect(body.events.map((event) => event.outcome)).to.eql(['complete', 'incomplete', 'complete']);
          });
        },
      },
      {
        name: 'GET /matches/{match_id}/events/shot',
        op: 'GET /matches/{match_id}/events/{event_type}',
        path: { ...matchPath, event_type: 'shot' },
        status: 200,
        until: (body) => body.count === 1,
        checks: () => {
          pm.test('the shot', () => pm.expect(body.events.map((event) => event.event_id)).to.eql(['pm-shot-1']));
        },
      },
      {
        name: 'GET /matches/{match_id}/events/{event_type}: unknown type (400)',
        op: 'GET /matches/{match_id}/events/{event_type}',
        path: { ...matchPath, event_type: 'header' },
        status: 400,
      },
      {
        name: 'GET /matches/{match_id}/stats',
        op: 'GET /matches/{match_id}/stats',
        path: matchPath,
        status: 200,
        until: (body) => body.event_count === 9,
        checks: () => {
          pm.test('score, status and the last event', () => {
            pm.expect(body.match_id).to.equal(pm.variables.get('matchId'));
            pm.expect(body.score).to.eql({ home: 1, away: 0 });
            pm.expect(body.status).to.equal('live');
            pm.expect(body.last_event_at).to.equal(pm.variables.get('pass3At'));
          });
          pm.test('team statistics', () => {
            pm.expect(body.teams.home).to.include({ goals: 1, shots: 2, shots_on_target: 2, passes: 2,
              passes_completed: 2, pass_accuracy: 100 });
            pm.expect(body.teams.away).to.include({ goals: 0, passes: 1, passes_completed: 0, pass_accuracy: 0,
              fouls: 1, yellow_cards: 1, saves: 1 });
          });
          pm.test('player statistics', () => {
            pm.expect(body.players.h9).to.include({ goals: 1, shots: 2, xg: 0.58 });
            pm.expect(body.players.a4).to.include({ passes: 1, fouls: 1, yellow_cards: 1 });
          });
          pm.test('xG and possession', () => {
            pm.expect(body.teams.home).to.include({ xg: 0.58, possession: 100 });
            pm.expect(body.teams.away).to.include({ xg: 0, possession: 0 });
          });
        },
      },
      {
        name: 'GET /matches/{match_id}/stats?period=1',
        op: 'GET /matches/{match_id}/stats',
        path: matchPath,
        query: { period: '1' },
        status: 200,
        checks: () => {
          pm.test('the first period: all nine events carry period 1', () => {
            pm.expect(body.period).to.equal(1);
            pm.expect(body.event_count).to.equal(9);
            pm.expect(body.teams.home).to.include({ goals: 1, passes: 2, xg: 0.58, possession: 100 });
          });
        },
      },
      {
        name: 'GET /matches/{match_id}/stats?period=6 (400)',
        op: 'GET /matches/{match_id}/stats',
        path: matchPath,
        query: { period: '6' },
        status: 400,
      },
      {
        name: 'GET /matches',
        op: 'GET /matches',
        description: 'Follows next_cursor while the match is not on the page (a busy stack), then starts again.',
        query: { status: 'live', date: '{{matchDay}}', limit: '100', cursor: '{{directoryCursor}}' },
        status: 200,
        prerequest: () => {
          if (!pm.variables.get('directoryCursor')) pm.request.removeQueryParams('cursor');
        },
        until: (body) => body.matches.some((m) => m.match_id === pm.variables.get('matchId') && m.event_count === 9),
        onRetry: () => {
          pm.collectionVariables.set('directoryCursor', (body && body.next_cursor) || '');
        },
        checks: () => {
          pm.collectionVariables.unset('directoryCursor');
          pm.test('the match is in the directory, live', () => {
            const match = body.matches.find((summary) => summary.match_id === pm.variables.get('matchId'));
            pm.expect(match).to.include({ status: 'live', period: 1, minute: 6, event_count: 9,
              first_event_at: pm.variables.get('kickOffAt'), last_event_at: pm.variables.get('pass3At') });
            pm.expect(match.score).to.eql({ home: 1, away: 0 });
            pm.expect(match.teams).to.have.members(['home', 'away']);
          });
        },
      },
      {
        name: 'GET /matches: unknown status (400)',
        op: 'GET /matches',
        query: { status: 'postponed' },
        status: 400,
      },
      {
        name: 'GET /matches/{match_id}/changes',
        op: 'GET /matches/{match_id}/changes',
        path: matchPath,
        status: 200,
        until: (body) => body.count === 9,
        checks: () => {
          pm.test('one insert per event', () => {
            pm.expect(body.changes.map((change) => change.change)).to.eql(Array(9).fill('insert'));
            pm.expect(body.changes.map((change) => change.event.event_id)).to.have.members(['pm-kick-off',
              'pm-pass-1', 'pm-pass-2', 'pm-shot-1', 'pm-save-1', 'pm-goal-1', 'pm-foul-1', 'pm-card-1', 'pm-pass-3']);
          });
          pm.collectionVariables.set('changesCursor', body.changes[body.changes.length - 1].cursor);
        },
      },
    ],
  },
  {
    name: 'Corrections',
    description: 'The goal voided for good: it leaves the reads and the statistics, and the change feed says so.',
    steps: [
      {
        name: 'DELETE /matches/{match_id}/events/{event_id}: no token (401)',
        op: 'DELETE /matches/{match_id}/events/{event_type}',
        path: { ...matchPath, event_type: 'pm-goal-1' },
        auth: 'none',
        status: 401,
      },
      {
        name: 'DELETE /matches/{match_id}/events/{event_id}',
        op: 'DELETE /matches/{match_id}/events/{event_type}',
        path: { ...matchPath, event_type: 'pm-goal-1' },
        status: 202,
        checks: () => {
          pm.test('the void is accepted', () => pm.expect(body).to.eql({ accepted: 1, event_ids: ['pm-goal-1'] }));
        },
      },
      {
        name: 'GET /matches/{match_id}/changes: after the inserts',
        op: 'GET /matches/{match_id}/changes',
        path: matchPath,
        query: { after: '{{changesCursor}}' },
        status: 200,
        until: (body) => body.count > 0,
        checks: () => {
          pm.test('only the delete of the goal', () => {
            pm.expect(body.changes).to.have.lengthOf(1);
            pm.expect(body.changes[0].change).to.equal('delete');
            pm.expect(body.changes[0].event).to.include({ match_id: pm.variables.get('matchId'),
              event_id: 'pm-goal-1', version: 2147483647, deleted: true });
          });
        },
      },
      {
        name: 'GET /matches/{match_id}/goals: voided',
        op: 'GET /matches/{match_id}/goals',
        path: matchPath,
        status: 200,
        until: (body) => body.count === 0,
        checks: () => {
          pm.test('no goal left', () => pm.expect(body.events).to.eql([]));
        },
      },
      {
        name: 'GET /matches/{match_id}/stats: voided',
        op: 'GET /matches/{match_id}/stats',
        path: matchPath,
        status: 200,
        until: (body) => body.event_count === 8,
        checks: () => {
          pm.test('the goal left the score and the statistics', () => {
            pm.expect(body.score).to.eql({ home: 0, away: 0 });
            pm.expect(body.teams.home).to.include({ goals: 0, shots: 1, shots_on_target: 1 });
            pm.expect(body.players.h9).to.include({ goals: 0, shots: 1 });
          });
        },
      },
    ],
  },
];
