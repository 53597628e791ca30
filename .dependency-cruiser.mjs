// The layers of src/ (docs/architecture.md, "The layers"), checked by `npm run lint:imports`
// (part of `npm test`). Each rule names what is refused and what to do instead; `comment` is
// the text printed with a violation.
//
//   protocol ← stream ← hub ← server ← commands, cli.ts
//   protocol ← engines ← hub
//   protocol ← client ← react
//   src/index.ts (the `herald` entry point) ← adapters

/** Every kind of npm package dependency-cruiser tells apart. */
const NPM = ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg'];

/** A file of src/ outside the folders (or files) given, as a regular expression. */
const srcOutside = (...allowed) => `^src/(?!(${allowed.join('|')})(/|$))`;

export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'This import closes a cycle: the files depend on each other, so none can be read, tested ' +
        'or loaded on its own. Move what both need (often a type) into the lower of the two ' +
        'files, or into a file of its own that both import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'This import does not resolve to a file or an installed package. Fix the path (imports ' +
        'between TypeScript files end in .js), or add the package to package.json.',
      from: {},
      to: { couldNotResolve: true },
    },

    // protocol: the wire format, the bottom layer.
    {
      name: 'protocol-imports-only-protocol',
      severity: 'error',
      comment:
        'src/protocol is the wire format: pure functions with no I/O, loaded by the server and ' +
        'by browsers alike. It imports only other files of src/protocol: no other layer, no ' +
        'node: builtin, no npm package. Move the code that needs them up into the layer that ' +
        'uses it, or pass what it needs in as an argument.',
      from: { path: '^src/protocol/' },
      to: { pathNot: '^src/protocol/' },
    },

    // stream: one SSE response, over protocol.
    {
      name: 'stream-imports-only-protocol',
      severity: 'error',
      comment:
        'src/stream is one SSE response, below the hub: it may import src/protocol and node: ' +
        'builtins, not the hub, the engines, the server or the client. Pass what it needs from ' +
        'above in as an option or a callback (the hub does this with each subscriber), or move ' +
        'the code up.',
      from: { path: '^src/stream/' },
      to: { path: srcOutside('stream', 'protocol') },
    },

    // engines: ordering, ids, history, over protocol; beside stream, below the hub.
    {
      name: 'engines-import-only-protocol',
      severity: 'error',
      comment:
        'src/engines store and carry events below the hub: they may import src/protocol, node: ' +
        'builtins and their own client packages (ioredis, @nats-io), never the hub, the stream ' +
        'or the server. Selectors are a hub concern: an engine gets a `matches(topic)` ' +
        'predicate, not a compiled selector. Move shared types into src/engines/engine.ts.',
      from: { path: '^src/engines/' },
      to: { path: srcOutside('engines', 'protocol') },
    },

    // hub: topics, fan-out, replay, over stream and engines.
    {
      name: 'hub-imports-only-lower-layers',
      severity: 'error',
      comment:
        'src/hub is the library below the server: it may import src/engines, src/stream and ' +
        'src/protocol, never the server (HTTP routes, JWT, Mercure requests), the client, the ' +
        'adapters or the CLI. Give the hub an option or an event that the server fills in, ' +
        'instead of importing the server.',
      from: { path: '^src/hub/' },
      to: { path: srcOutside('hub', 'engines', 'stream', 'protocol') },
    },
    {
      name: 'library-has-no-runtime-dependencies',
      severity: 'error',
      comment:
        'The `herald` entry point (protocol, stream, hub, the memory engine) installs with no ' +
        'runtime dependencies. Use a node: builtin or write the few lines, or, for an engine ' +
        'that needs its own client package, give it its own file and entry point (as ' +
        'engines/redis.ts and engines/nats.ts are).',
      from: { path: '^src/(protocol|stream|hub|engines)/', pathNot: '^src/engines/(redis|nats)' },
      to: { dependencyTypes: NPM },
    },

    // server: the standalone hub's HTTP app, over the library.
    {
      name: 'server-imports-only-the-library',
      severity: 'error',
      comment:
        'src/server is the standalone hub over the library: it may import src/hub, src/stream, ' +
        'src/engines and src/protocol (and npm packages), not the client, the React hook, the ' +
        'adapters, the CLI (src/commands, src/cli.ts) or the library root src/index.ts. Import ' +
        'the layer itself, and move code the CLI and the server share into src/server.',
      from: { path: '^src/server/', pathNot: '^src/server/dashboard/ui/' },
      to: { path: srcOutside('server', 'hub', 'stream', 'engines', 'protocol') },
    },
    // The dashboard's page (src/server/dashboard/ui/) is browser code bundled into the page: it
    // reads the hub with the client, and takes only types from the server.
    {
      name: 'dashboard-page-is-browser-code',
      severity: 'error',
      comment:
        'src/server/dashboard/ui/ runs in the browser: it may import src/client and ' +
        'src/protocol, and types from src/server (import type), nothing that runs on the ' +
        'server, no node: builtin and no npm package.',
      from: { path: '^src/server/dashboard/ui/' },
      to: {
        path: srcOutside('server/dashboard/ui', 'client', 'protocol', 'server'),
      },
    },
    {
      name: 'dashboard-page-takes-only-types-from-the-server',
      severity: 'error',
      comment:
        'src/server/dashboard/ui/ is bundled into the page: from the rest of src/server it may ' +
        'import types only (import type), which leave no code in the bundle.',
      from: { path: '^src/server/dashboard/ui/' },
      to: {
        path: '^src/server/',
        pathNot: '^src/server/dashboard/ui/',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'dashboard-page-no-node-or-npm',
      severity: 'error',
      comment:
        'src/server/dashboard/ui/ runs in the browser: no node: builtin and no npm package ' +
        '(the client gives it what it needs).',
      from: { path: '^src/server/dashboard/ui/' },
      to: { dependencyTypes: ['core', ...NPM] },
    },

    // client: web-platform APIs only.
    {
      name: 'client-imports-only-protocol',
      severity: 'error',
      comment:
        'src/client runs in browsers, workers, Deno and Bun: besides its own files it may import ' +
        'only src/protocol. Move what it needs from another layer into src/protocol, or write ' +
        'it in src/client.',
      from: { path: '^src/client/' },
      to: { path: srcOutside('client', 'protocol') },
    },
    {
      name: 'client-no-node-builtins',
      severity: 'error',
      comment:
        'src/client uses web-platform APIs only (fetch, ReadableStream, TextDecoder, ' +
        'AbortController, EventTarget, timers): a node: builtin breaks the browser bundle ' +
        '(dist/client.browser.js) and the shared worker. Use the web API that does the same.',
      from: { path: '^src/client/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'client-no-npm-packages',
      severity: 'error',
      comment:
        'src/client installs with no dependencies (`herald/client`, and the browser bundle ' +
        'stays small): it imports no npm package. Write the few lines it needs in src/client.',
      from: { path: '^src/client/' },
      to: { dependencyTypes: NPM },
    },

    // react: the hook, over the client.
    {
      name: 'react-imports-only-client',
      severity: 'error',
      comment:
        'src/react is the hook over the client: besides its own files it may import src/client ' +
        'and the `react` package, nothing else of src/ and no node: builtin (it runs in ' +
        'browsers). Export what it needs from src/client.',
      from: { path: '^src/react/' },
      to: { path: srcOutside('react', 'client') },
    },
    {
      name: 'react-imports-only-react',
      severity: 'error',
      comment:
        'src/react runs in browsers with React as its only (peer) dependency: no node: builtin ' +
        'and no npm package other than `react`.',
      from: { path: '^src/react/' },
      to: { dependencyTypes: ['core', ...NPM], pathNot: '^node_modules/react/' },
    },

    // adapters: translate and delegate, over the public library.
    {
      name: 'adapters-import-only-the-public-library',
      severity: 'error',
      comment:
        'An adapter translates a framework request/response and delegates: it imports the ' +
        'public library (src/index.ts, the `herald` entry point) and its framework, nothing ' +
        'else of src/ (not hub or stream internals, not another adapter, not the server). If ' +
        'it needs something that is not exported yet, export it from src/index.ts.',
      from: { path: '^src/adapters/' },
      to: { path: '^src/', pathNot: '^src/index\\.ts$' },
    },
    {
      name: 'adapters-import-only-peer-frameworks',
      severity: 'error',
      comment:
        'An adapter may import only its framework, declared under peerDependencies (optional) ' +
        'in package.json, so that installing Herald never installs a framework. Add the package ' +
        'there (and to peerDependenciesMeta as optional), or leave the work to the library.',
      from: { path: '^src/adapters/' },
      to: { dependencyTypes: NPM, dependencyTypesNot: ['npm-peer'] },
    },

    // commands and cli.ts: the command line, the top.
    {
      name: 'commands-are-the-cli',
      severity: 'error',
      comment:
        'src/commands hold what each `herald` command does: they may import the server, the ' +
        'library and the client, not the adapters, the React hook or src/cli.ts (which ' +
        'dispatches to them). Move code two commands share into src/commands.',
      from: { path: '^src/commands/' },
      to: { path: '^src/(adapters|react)/|^src/cli\\.ts$' },
    },
    {
      name: 'cli-is-the-top',
      severity: 'error',
      comment:
        'src/cli.ts parses arguments and dispatches to src/commands and src/server; it does ' +
        'not load the adapters or the React hook.',
      from: { path: '^src/cli\\.ts$' },
      to: { path: '^src/(adapters|react)/' },
    },
    {
      name: 'only-the-cli-imports-commands',
      severity: 'error',
      comment:
        'src/commands and src/cli.ts are the command line, the top of the house: no library ' +
        'or server file imports them. Move what both need down into src/server (or lower).',
      from: { path: '^src/', pathNot: '^src/(commands/|cli\\.ts$)' },
      to: { path: '^src/(commands/|cli\\.ts$)' },
    },

    // src/index.ts: the `herald` entry point.
    {
      name: 'library-root-exports-only-the-library',
      severity: 'error',
      comment:
        'src/index.ts is the `herald` entry point: it exports src/stream, src/hub and ' +
        'src/engines, never src/server (the standalone hub, with its runtime dependencies), the ' +
        'client, the React hook, the adapters or the CLI. Move a function the library should ' +
        'export out of src/server, into the layer it belongs to.',
      from: { path: '^src/index\\.ts$' },
      to: { path: srcOutside('stream', 'hub', 'engines', 'protocol') },
    },
  ],
  options: {
    // Type-only imports are dependencies too: a type from a higher layer ties the layers
    // together as surely as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
