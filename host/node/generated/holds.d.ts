// world root:component/root
import type * as HoldsCoreClock from './interfaces/holds-core-clock.js'; // holds:core/clock@0.3.0
import type * as HoldsCoreFs from './interfaces/holds-core-fs.js'; // holds:core/fs@0.3.0
import type * as HoldsCoreKv from './interfaces/holds-core-kv.js'; // holds:core/kv@0.3.0
import type * as HoldsCoreObserver from './interfaces/holds-core-observer.js'; // holds:core/observer@0.3.0
import type * as HoldsCoreTypes from './interfaces/holds-core-types.js'; // holds:core/types@0.3.0
import type * as HoldsCoreHolds from './interfaces/holds-core-holds.js'; // holds:core/holds@0.3.0
import type * as HoldsCoreSubscribe from './interfaces/holds-core-subscribe.js'; // holds:core/subscribe@0.3.0
export interface ImportObject {
  'holds:core/clock@0.3.0': typeof HoldsCoreClock,
  'holds:core/fs@0.3.0': typeof HoldsCoreFs,
  'holds:core/kv@0.3.0': typeof HoldsCoreKv,
  'holds:core/observer@0.3.0': typeof HoldsCoreObserver,
  'holds:core/types@0.3.0': typeof HoldsCoreTypes,
}
export interface Root {
  'holds:core/holds@0.3.0': typeof HoldsCoreHolds,
  holds: typeof HoldsCoreHolds,
  'holds:core/subscribe@0.3.0': typeof HoldsCoreSubscribe,
  subscribe: typeof HoldsCoreSubscribe,
}

/**
* Instantiates this component with the provided imports and
* returns a map of all the exports of the component.
*
* This function is intended to be similar to the
* `WebAssembly.Instantiate` constructor. The second `imports`
* argument is the "import object" for wasm, except here it
* uses component-model-layer types instead of core wasm
* integers/numbers/etc.
*
* The first argument to this function, `getCoreModule`, is
* used to compile core wasm modules within the component.
* Components are composed of core wasm modules and this callback
* will be invoked per core wasm module. The caller of this
* function is responsible for reading the core wasm module
* identified by `path` and returning its compiled
* `WebAssembly.Module` object. This would use the
* `WebAssembly.Module` constructor on the web, for example.
*/
export function instantiate(
getCoreModule: (path: string) => WebAssembly.Module,
imports: ImportObject,
instantiateCore?: (module: WebAssembly.Module, imports: Record<string, any>) => WebAssembly.Instance
): Root;
export function instantiate(
getCoreModule: (path: string) => WebAssembly.Module | Promise<WebAssembly.Module>,
imports: ImportObject,
instantiateCore?: (module: WebAssembly.Module, imports: Record<string, any>) => WebAssembly.Instance | Promise<WebAssembly.Instance>
): Root | Promise<Root>;

