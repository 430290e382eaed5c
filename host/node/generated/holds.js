"use components";
export function instantiate(getCoreModule, imports, instantiateCore = WebAssembly.instantiate) {
  
  let dv = new DataView(new ArrayBuffer());
  const dataView = mem => dv.buffer === mem.buffer ? dv : dv = new DataView(mem.buffer);
  
  function toInt64(val) {
    const converted = BigInt(val)
    
    return BigInt.asIntN(64, converted);
  }
  
  
  function toUint64(val) {
    const converted = BigInt(val)
    
    return BigInt.asUintN(64, converted);
  }
  
  
  function toUint32(val) {
    
    return val >>> 0;
  }
  
  
  function _isValidNumericPrimitive(ty, v) {
    if (v === undefined || v === null) { return false; }
    switch (ty) {
      case 'bool':
      return v === 0 || v === 1;
      break;
      case 'u8':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
      break;
      case 's8':
      return typeof v === 'number' && Number.isInteger(v) && v >= -128 && v <= 127;
      break;
      case 'u16':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
      break;
      case 's16':
      return typeof v === 'number' && Number.isInteger(v) && v >= -32768 && v <= 32767;
      case 'u32':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 4_294_967_295;
      case 's32':
      return typeof v === 'number' && Number.isInteger(v) && v >= -2_147_483_648 && v <= 2_147_483_647;
      case 'u64':
      return typeof v === 'bigint' && v >= 0 && v <= 18_446_744_073_709_551_615n;
      case 's64':
      return typeof v === 'bigint' && v >= -9223372036854775808n && v <= 9223372036854775807n;
      break;
      case 'f32':
      case 'f64': return typeof v === 'number';
      default:
      return false;
    }
    return true;
  }
  
  function _requireValidNumericPrimitive(ty, v) {
    if (v === undefined  || v === null || !_isValidNumericPrimitive(ty, v)) {
      throw new TypeError(`invalid ${ty} value [${v}]`);
    }
    return true;
  }
  const utf16Decoder = new TextDecoder('utf-16');
  
  const isLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  
  function _utf16AllocateAndEncode(str, realloc, memory) {
    const len = str.length;
    const ptr = realloc(0, 0, 2, len * 2);
    const out = new Uint16Array(memory.buffer, ptr, len);
    let i = 0;
    if (isLE) {
      while (i < len) { out[i] = str.charCodeAt(i++); }
    } else {
      while (i < len) {
        const ch = str.charCodeAt(i);
        out[i++] = (ch & 0xff) << 8 | ch >>> 8;
      }
    }
    return { ptr, len, codepoints: [...str].length };
  }
  
  const TEXT_DECODER_UTF8 = new TextDecoder();
  const TEXT_ENCODER_UTF8 = new TextEncoder();
  
  function _utf8AllocateAndEncode(s, realloc, memory) {
    if (typeof s !== 'string') {
      throw new TypeError('expected a string, received [' + typeof s + ']');
    }
    if (s.length === 0) { return { ptr: 1, len: 0 }; }
    // Compute the exact allocation size up front. Some older preview1
    // adapters only support an initial allocation, not a subsequent shrink.
    let len = 0;
    let codepoints = 0;
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      codepoints++;
      if (ch < 0x80) { len += 1; }
      else if (ch < 0x800) { len += 2; }
      else if (ch >= 0xd800 && ch <= 0xdbff &&
      i + 1 < s.length &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        len += 4;
        i++;
      } else { len += 3; }
    }
    const ptr = realloc(0, 0, 1, len);
    const { read, written } = TEXT_ENCODER_UTF8.encodeInto(
    s,
    new Uint8Array(memory.buffer, ptr, len),
    );
    if (read !== s.length || written !== len) {
      throw new Error('failed to encode whole string');
    }
    const res = { ptr, len, codepoints };
    return res;
  }
  
  let RESOURCE_SCOPE_ID = 0;
  const RESOURCE_SCOPE_TASKS = new Map();
  const ASYNC_TASKS_BY_COMPONENT_IDX = new Map();
  const ASYNC_CURRENT_COMPONENT_IDXS = [];
  
  function getCurrentTask(componentIdx, taskID) {
    let usedGlobal = false;
    if (componentIdx === undefined || componentIdx === null) {
      throw new Error('missing component idx'); // TODO(fix)
      // componentIdx = ASYNC_CURRENT_COMPONENT_IDXS.at(-1);
      // usedGlobal = true;
    }
    
    const taskMetas = ASYNC_TASKS_BY_COMPONENT_IDX.get(componentIdx);
    if (taskMetas === undefined || taskMetas.length === 0) { return undefined; }
    
    if (taskID) {
      return taskMetas.find(meta => meta.task.id() === taskID);
    }
    
    const taskMeta = taskMetas[taskMetas.length - 1];
    if (!taskMeta || !taskMeta.task) { return undefined; }
    
    return taskMeta;
  }
  const ASYNC_CURRENT_TASK_IDS = [];
  
  const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
    console.debug(...args);
  };
  
  function clearCurrentTask(componentIdx, taskID) {
    _debugLog('[clearCurrentTask()] args', { componentIdx, taskID });
    
    if (componentIdx === undefined || componentIdx === null) {
      throw new Error('missing/invalid component instance index while ending current task');
    }
    
    const tasks = ASYNC_TASKS_BY_COMPONENT_IDX.get(componentIdx);
    if (!tasks || !Array.isArray(tasks)) {
      throw new Error('missing/invalid tasks for component instance while ending task');
    }
    if (tasks.length == 0) {
      throw new Error(`no current tasks for component instance [${componentIdx}] while ending task`);
    }
    
    if (taskID !== undefined) {
      const last = tasks[tasks.length - 1];
      if (last.id !== taskID) {
        // throw new Error('current task does not match expected task ID');
        return;
      }
    }
    
    ASYNC_CURRENT_TASK_IDS.pop();
    ASYNC_CURRENT_COMPONENT_IDXS.pop();
    
    const taskMeta = tasks.pop();
    return taskMeta.task;
  }
  const ASYNC_STATE = new Map();
  
  function promiseWithResolvers() {
    if (Promise.withResolvers) {
      return Promise.withResolvers();
    } else {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    }
  }
  
  class Waitable {
    #componentIdx;
    
    #pendingEventFn = null;
    
    #promise;
    #resolve;
    #reject;
    
    #waitableSet = null;
    
    #hasSyncWaiter = false;
    
    #idx = null; // to component-global waitables
    
    target;
    
    constructor(args) {
      const { componentIdx, target } = args;
      this.#componentIdx = componentIdx;
      this.target = args.target;
      this.#resetPromise();
    }
    
    componentIdx() { return this.#componentIdx; }
    isInSet() { return this.#waitableSet !== null; }
    
    idx() { return this.#idx; }
    setIdx(idx) {
      if (idx === 0) { throw new Error("waitable idx cannot be zero"); }
      this.#idx = idx;
    }
    
    setTarget(tgt) { this.target = tgt; }
    
    #resetPromise() {
      const { promise, resolve, reject } = promiseWithResolvers()
      this.#promise = promise;
      this.#resolve = resolve;
      this.#reject = reject;
    }
    
    resolve() { this.#resolve(); }
    reject(err) { this.#reject(err); }
    promise() { return this.#promise; }
    
    hasPendingEvent() {
      // _debugLog('[Waitable#hasPendingEvent()]', {
        //     componentIdx: this.#componentIdx,
        //     waitable: this,
        //     waitableSet: this.#waitableSet,
        //     hasPendingEvent: this.#pendingEventFn !== null,
        // });
        return this.#pendingEventFn !== null;
      }
      
      setPendingEvent(fn) {
        _debugLog('[Waitable#setPendingEvent()] args', {
          waitable: this,
          inSet: this.#waitableSet,
        });
        this.#pendingEventFn = fn;
      }
      
      getPendingEvent() {
        _debugLog('[Waitable#getPendingEvent()] args', {
          waitable: this,
          inSet: this.#waitableSet,
          hasPendingEvent: this.#pendingEventFn !== null,
        });
        if (this.#pendingEventFn === null) { return null; }
        const eventFn = this.#pendingEventFn;
        this.#pendingEventFn = null;
        const e = eventFn();
        this.#resetPromise();
        return e;
      }
      
      join(waitableSet) {
        _debugLog('[Waitable#join()] args', {
          waitable: this,
          waitableSet: waitableSet,
          isRemoval: waitableSet === null,
        });
        
        if (this.#waitableSet === undefined) {
          throw new TypeError('waitable set must be not be undefined');
        }
        
        if (this.#waitableSet) {
          this.#waitableSet.removeWaitable(this);
        }
        
        this.#waitableSet = waitableSet;
        
        if (waitableSet) {
          this.#waitableSet.addWaitable(this);
        }
      }
      
      drop() {
        _debugLog('[Waitable#drop()] args', {
          componentIdx: this.#componentIdx,
          waitable: this,
        });
        if (this.hasPendingEvent()) {
          throw new Error('waitables with pending events cannot be dropped');
        }
        this.join(null);
      }
      
      async waitForPendingEvent(args) {
        const { cstate } = args;
        if (!cstate) { throw new TypeError('missing component state'); }
        
        if (this.#waitableSet !== null || this.#hasSyncWaiter) {
          throw new Error("waitable is already in a set/has a sync waiter");
        }
        this.#hasSyncWaiter = true;
        await cstate.waitUntil({
          cancellable: false,
          readyFn: () => this.hasPendingEvent(),
        });
        this.#hasSyncWaiter = false;
      }
      
    }
    const INSTANCE_FLAGS = new Map();
    const STORE_TRAP = { error: null };
    const STORE_ASYNC_STATE = { deadlockCheck: null, pendingHostOperations: 0 };
    const WebAssemblyRuntimeError = WebAssembly.RuntimeError;
    
    function _checkForDeadlock() {
      if (STORE_ASYNC_STATE.deadlockCheck !== null || STORE_TRAP.error !== null) { return; }
      STORE_ASYNC_STATE.deadlockCheck = setTimeout(() => {
        STORE_ASYNC_STATE.deadlockCheck = null;
        if (STORE_TRAP.error !== null || STORE_ASYNC_STATE.pendingHostOperations > 0) { return; }
        
        const suspendedTasks = new Set();
        for (const state of ASYNC_STATE.values()) {
          if (state.hasPendingSchedulerWork()) {
            state.runTickLoop();
            return;
          }
          for (const meta of state.suspendedTaskMetas()) {
            suspendedTasks.add(meta.task);
          }
        }
        
        const unresolvedRoots = new Set();
        for (const task of suspendedTasks) {
          const root = task.getRootTask();
          if (!root.isResolvedState()) { unresolvedRoots.add(root); }
        }
        if (unresolvedRoots.size === 0) { return; }
        
        const err = new WebAssemblyRuntimeError('wasm trap: deadlock detected: event loop cannot make further progress');
        // Which tasks were waiting, and on whose behalf. The message stays
        // exactly what the Canonical ABI calls for, so this rides alongside
        // it: a deadlock reported from a real program is otherwise a bare
        // sentence, and the state that produced it is gone by the time
        // anyone reads the failure.
        err.deadlockDetail = {
          pendingHostOperations: STORE_ASYNC_STATE.pendingHostOperations,
          suspendedTasks: [...suspendedTasks].map((task) => ({
            taskID: task.id(),
            componentIdx: task.componentIdx(),
            state: task.taskState(),
            rootTaskID: task.getRootTask().id(),
          })),
          unresolvedRootTaskIDs: [...unresolvedRoots].map((root) => root.id()),
        };
        STORE_TRAP.error = err;
        for (const root of unresolvedRoots) {
          root.setErrored(err);
          root.reject(err);
        }
        for (const task of suspendedTasks) {
          if (!task.isResolvedState() && unresolvedRoots.has(task.getRootTask())) {
            task.setErrored(err);
            task.reject(err);
          }
        }
        for (const state of ASYNC_STATE.values()) { state.runTickLoop(); }
      }, 0);
    }
    
    const CORE_TRAP_MESSAGES = new Map([
    ['unreachable', "wasm trap: wasm `unreachable` instruction executed"],
    ['memory access out of bounds', "wasm trap: out of bounds memory access"],
    ['divide by zero', "wasm trap: integer divide by zero"],
    ['remainder by zero', "wasm trap: integer divide by zero"],
    ['divide result unrepresentable', "wasm trap: integer overflow"],
    ['float unrepresentable in integer range', "wasm trap: invalid conversion to integer"],
    ['table index is out of bounds', "wasm trap: undefined element: out of bounds table access"],
    ['function signature mismatch', "wasm trap: indirect call type mismatch"],
    ['call stack exhausted', "wasm trap: call stack exhausted"],
    ]);
    function _normalizeCoreTrap(err) {
      if (!(err instanceof WebAssemblyRuntimeError)) { return err; }
      const message = CORE_TRAP_MESSAGES.get(err.message);
      if (message !== undefined) { err.message = message; }
      return err;
    }
    
    class RepTable {
      // Sentinel marking a freed slot; the freelist link for a freed slot
      // lives in the odd cell. This keeps get()/contains()/remove() on freed
      // reps well-defined (previously they returned/corrupted freelist links).
      static FREE = Symbol('RepTable.free');
      
      #data = [0, null];
      #size = 0;
      #target;
      
      constructor(args) {
        this.target = args?.target;
      }
      
      data() { return this.#data; }
      
      insert(val) {
        _debugLog('[RepTable#insert()] args', { val, target: this.target });
        const freeIdx = this.#data[0];
        if (freeIdx === 0) {
          this.#data.push(val);
          this.#data.push(null);
          const rep = (this.#data.length >> 1) - 1;
          _debugLog('[RepTable#insert()] inserted', { val, target: this.target, rep });
          this.#size += 1;
          return rep;
        }
        const placementIdx = freeIdx << 1;
        if (this.#data[placementIdx] !== RepTable.FREE) {
          throw new Error('corrupt rep table freelist: head does not point at a freed slot');
        }
        this.#data[0] = this.#data[placementIdx + 1];
        this.#data[placementIdx] = val;
        this.#data[placementIdx + 1] = null;
        _debugLog('[RepTable#insert()] inserted', { val, target: this.target, rep: freeIdx });
        this.#size += 1;
        return freeIdx;
      }
      
      get(rep) {
        _debugLog('[RepTable#get()] args', { rep, target: this.target });
        if (rep === 0) { throw new Error('invalid resource rep during get, (cannot be 0)'); }
        
        const baseIdx = rep << 1;
        const val = this.#data[baseIdx];
        if (val === RepTable.FREE) { return undefined; }
        return val;
      }
      
      contains(rep) {
        _debugLog('[RepTable#contains()] args', { rep, target: this.target });
        if (rep === 0) { throw new Error('invalid resource rep during contains, (cannot be 0)'); }
        
        const baseIdx = rep << 1;
        const val = this.#data[baseIdx];
        return val !== RepTable.FREE && !!val;
      }
      
      remove(rep) {
        _debugLog('[RepTable#remove()] args', { rep, target: this.target });
        if (rep === 0) { throw new Error('invalid resource rep during remove, (cannot be 0)'); }
        if (this.#data.length === 2) { throw new Error('invalid'); }
        
        const baseIdx = rep << 1;
        if (baseIdx >= this.#data.length) {
          throw new Error(`invalid rep [${rep}] during remove, out of range`);
        }
        const val = this.#data[baseIdx];
        if (val === RepTable.FREE) {
          throw new Error(`double removal of rep [${rep}] (already freed)`);
        }
        
        this.#data[baseIdx] = RepTable.FREE;
        this.#data[baseIdx + 1] = this.#data[0];
        this.#data[0] = rep;
        this.#size -= 1;
        
        return val;
      }
      
      size() { return this.#size; }
      
      clear() {
        _debugLog('[RepTable#clear()] args', { rep, target: this.target });
        this.#data = [0, null];
      }
    }
    
    class ComponentAsyncState {
      static EVENT_HANDLER_EVENTS = [ 'backpressure-change' ];
      
      static TickResult = {
        // no suspended tasks remain
        DONE: 'done',
        // a suspended task was resumed (more may be ready)
        RESUMED: 'resumed',
        // suspended tasks remain but none were ready
        IDLE: 'idle',
      };
      
      #componentIdx;
      #callingAsyncImport = false;
      #syncImportWait = promiseWithResolvers();
      #lockHolderTaskID = null;
      #lockWaiters = [];
      #lockHandoffScheduled = false;
      #pendingTaskStarts = 0;
      #parkedTasks = new Map();
      #suspendedTasksByTaskID = new Map();
      #suspendedTaskIDs = [];
      #errored = null;
      #trapped = false;
      #backpressure = 0;
      #backpressureWaiters = 0n;
      
      #handlerMap = new Map();
      #nextHandlerID = 0n;
      
      #tickLoop = null;
      #tickLoopInterval = null;
      
      #onExclusiveReleaseHandlers = [];
      
      #mayLeave = true;
      
      handles;
      subtasks;
      
      constructor(args) {
        this.#componentIdx = args.componentIdx;
        this.handles = new RepTable({ target: `component [${this.#componentIdx}] handles (waitable objects)` });
        this.subtasks = new RepTable({ target: `component [${this.#componentIdx}] subtasks` });
      };
      
      componentIdx() { return this.#componentIdx; }
      
      get mayLeave() {
        const flags = INSTANCE_FLAGS.get(this.#componentIdx);
        return flags === undefined ? this.#mayLeave : flags.value === 1;
      }
      set mayLeave(value) {
        if (typeof value !== 'boolean') { throw new TypeError('mayLeave must be a boolean'); }
        this.#mayLeave = value;
        const flags = INSTANCE_FLAGS.get(this.#componentIdx);
        if (flags !== undefined) { flags.value = value ? 1 : 0; }
      }
      
      errored() { return this.#errored !== null; }
      setErrored(err) {
        _debugLog('[ComponentAsyncState#setErrored()] component errored', { err, componentIdx: this.#componentIdx });
        if (this.#errored) { return; }
        if (!err) {
          err = new Error('error elswehere (see other component instance error)')
          err.componentIdx = this.#componentIdx;
        }
        this.#errored = err;
      }
      
      markTrapped(err) {
        if (!(err instanceof WebAssemblyRuntimeError)) {
          return false;
        }
        err = _normalizeCoreTrap(err);
        this.#trapped = true;
        _debugLog('[ComponentAsyncState#markTrapped()] component trapped', { err, componentIdx: this.#componentIdx });
        if (STORE_TRAP.error === null) { STORE_TRAP.error = err; }
        return true;
      }
      
      throwIfTrapped() {
        if (this.#trapped) {
          throw new WebAssemblyRuntimeError("wasm trap: cannot enter component instance");
        }
      }
      
      callingSyncImport(val) {
        if (val === undefined) { return this.#callingAsyncImport; }
        if (typeof val !== 'boolean') { throw new TypeError('invalid setting for async import'); }
        const prev = this.#callingAsyncImport;
        this.#callingAsyncImport = val;
        if (prev === true && this.#callingAsyncImport === false) {
          this.#notifySyncImportEnd();
        }
      }
      
      #notifySyncImportEnd() {
        const existing = this.#syncImportWait;
        this.#syncImportWait = promiseWithResolvers();
        existing.resolve();
      }
      
      async waitForSyncImportCallEnd() {
        await this.#syncImportWait.promise;
      }
      
      setBackpressure(v) {
        this.#backpressure = v;
        return this.#backpressure
      }
      getBackpressure() { return this.#backpressure; }
      
      incrementBackpressure() {
        const current = this.#backpressure;
        if (current < 0 || current > 2**16) {
          throw new Error(`invalid current backpressure value [${current}]`);
        }
        const newValue = this.getBackpressure() + 1;
        if (newValue >= 2**16) {
          throw new Error(`invalid new backpressure value [${newValue}], overflow`);
        }
        return this.setBackpressure(newValue);
      }
      
      decrementBackpressure() {
        const current = this.#backpressure;
        if (current < 0 || current > 2**16) {
          throw new Error(`invalid current backpressure value [${current}]`);
        }
        const newValue = Math.max(0, current - 1);
        if (newValue < 0) {
          throw new Error(`invalid new backpressure value [${newValue}], underflow`);
        }
        return this.setBackpressure(newValue);
      }
      hasBackpressure() { return this.#backpressure > 0; }
      
      waitForBackpressure() {
        let backpressureCleared = false;
        const cstate = this;
        cstate.addBackpressureWaiter();
        const handlerID = this.registerHandler({
          event: 'backpressure-change',
          fn: (bp) => {
            if (bp === 0) {
              cstate.removeHandler(handlerID);
              backpressureCleared = true;
            }
          }
        });
        return new Promise((resolve) => {
          const interval = setInterval(() => {
            if (backpressureCleared) { return; }
            clearInterval(interval);
            cstate.removeBackpressureWaiter();
            resolve(null);
          }, 0);
        });
      }
      
      registerHandler(args) {
        const { event, fn } = args;
        if (!event) { throw new Error("missing handler event"); }
        if (!fn) { throw new Error("missing handler fn"); }
        
        if (!ComponentAsyncState.EVENT_HANDLER_EVENTS.includes(event)) {
          throw new Error(`unrecognized event handler [${event}]`);
        }
        
        const handlerID = this.#nextHandlerID++;
        let handlers = this.#handlerMap.get(event);
        if (!handlers) {
          handlers = [];
          this.#handlerMap.set(event, handlers)
        }
        
        handlers.push({ id: handlerID, fn, event });
        return handlerID;
      }
      
      removeHandler(args) {
        const { event, handlerID } = args;
        const registeredHandlers = this.#handlerMap.get(event);
        if (!registeredHandlers) { return; }
        const found = registeredHandlers.find(h => h.id === handlerID);
        if (!found) { return; }
        this.#handlerMap.set(event, this.#handlerMap.get(event).filter(h => h.id !== handlerID));
      }
      
      getBackpressureWaiters() { return this.#backpressureWaiters; }
      addBackpressureWaiter() { this.#backpressureWaiters++; }
      removeBackpressureWaiter() {
        this.#backpressureWaiters--;
        if (this.#backpressureWaiters < 0) {
          throw new Error("unexepctedly negative number of backpressure waiters");
        }
      }
      
      // The per-slice mutual-exclusion lock for guest execution in this
      // component instance. Guest slices (callback invocations and
      // sync-lifted bodies) must be atomic per component even across the
      // JSPI suspensions jco introduces for host imports: wit-bindgen's
      // executors publish per-task state in single linear-memory cells
      // (the wasip3-task pointer, context-local storage discipline) that
      // an interleaved slice of the same component corrupts
      //
      // The lock is *owned*: acquisition records the holder task and
      // release is a no-op for anyone else, so a task exiting can no
      // longer drop a hold it does not own (blind acquire/release-any
      // was the previous discipline). Contended acquisition queues
      // FIFO; release hands the lock to the next waiter directly.
      isExclusivelyLocked() { return this.#lockHolderTaskID !== null; }
      exclusivelyLockedBy(taskID) { return this.#lockHolderTaskID === taskID; }
      
      exclusiveLock(taskID) {
        _debugLog('[ComponentAsyncState#exclusiveLock()]', {
          holder: this.#lockHolderTaskID,
          requester: taskID,
          componentIdx: this.#componentIdx,
        });
        if (taskID === undefined || taskID === null) {
          throw new Error('exclusive lock requires the acquiring task id');
        }
        if (this.#lockHolderTaskID !== null) {
          throw new Error(`component [${this.#componentIdx}] exclusive lock held by task [${this.#lockHolderTaskID}], requested by [${taskID}]`);
        }
        this.#lockHolderTaskID = taskID;
      }
      
      // Awaitable acquisition: takes the lock immediately when free,
      // otherwise queues FIFO behind the current holder and earlier
      // waiters. The resolved promise implies ownership.
      acquireExclusiveLock(taskID) {
        if (taskID === undefined || taskID === null) {
          throw new Error('exclusive lock requires the acquiring task id');
        }
        if (this.#lockHolderTaskID === null) {
          this.#lockHolderTaskID = taskID;
          _debugLog('[ComponentAsyncState#acquireExclusiveLock()] acquired', {
            holder: taskID,
            componentIdx: this.#componentIdx,
          });
          return;
        }
        if (this.#lockHolderTaskID === taskID) {
          throw new Error(`task [${taskID}] already holds the lock for component [${this.#componentIdx}]`);
        }
        _debugLog('[ComponentAsyncState#acquireExclusiveLock()] waiting', {
          holder: this.#lockHolderTaskID,
          requester: taskID,
          componentIdx: this.#componentIdx,
          queued: this.#lockWaiters.length,
        });
        return new Promise((resolve) => {
          this.#lockWaiters.push({ taskID, resolve });
        });
      }
      
      exclusiveRelease(taskID) {
        _debugLog('[ComponentAsyncState#exclusiveRelease()] args', {
          holder: this.#lockHolderTaskID,
          releaser: taskID,
          componentIdx: this.#componentIdx,
        });
        if (this.#lockHolderTaskID !== taskID) {
          // Ownerless releases were the historical behavior; a foreign
          // release now leaves the hold intact
          _debugLog('[ComponentAsyncState#exclusiveRelease()] ignoring foreign release', {
            holder: this.#lockHolderTaskID,
            releaser: taskID,
            componentIdx: this.#componentIdx,
          });
          return false;
        }
        
        // Make the release observable before handing the lock to the next
        // asynchronous guest slice.
        //
        // Release handlers may expose a lifted value whose consumer immediately
        // performs a synchronous call on the same component; that call must run
        // while the instance is genuinely unlocked, not via enterSync's
        // lock-free fallback code.
        this.#lockHolderTaskID = null;
        
        this.#onExclusiveReleaseHandlers = this.#onExclusiveReleaseHandlers.filter(v => !!v);
        for (const [idx, f] of this.#onExclusiveReleaseHandlers.entries()) {
          try {
            this.#onExclusiveReleaseHandlers[idx] = null;
            f();
          } catch (err) {
            _debugLog("error while executing handler for next exclusive release", err);
            throw err;
          }
        }
        this.#scheduleLockHandoff();
        return true;
      }
      
      #scheduleLockHandoff() {
        if (this.#lockHandoffScheduled || this.#lockWaiters.length === 0) { return; }
        this.#lockHandoffScheduled = true;
        queueMicrotask(() => {
          this.#lockHandoffScheduled = false;
          // A synchronous call triggered by a release handler gets the
          // first opportunity to use the unlocked component.
          //
          // Its release will leave this queued handoff in place.
          if (this.#lockHolderTaskID !== null) {
            this.#scheduleLockHandoff();
            return;
          }
          const next = this.#lockWaiters.shift();
          if (!next) { return; }
          this.#lockHolderTaskID = next.taskID;
          next.resolve();
        });
      }
      
      onNextExclusiveRelease(fn) {
        _debugLog('[ComponentAsyncState#()onNextExclusiveRelease] registering');
        this.#onExclusiveReleaseHandlers.push(fn);
      }
      
      async waitForExclusiveRelease() {
        while (this.isExclusivelyLocked()) {
          await new Promise(resolve => this.onNextExclusiveRelease(resolve));
        }
      }
      
      #getSuspendedTaskMeta(taskID) {
        return this.#suspendedTasksByTaskID.get(taskID);
      }
      
      #removeSuspendedTaskMeta(taskID) {
        _debugLog('[ComponentAsyncState#removeSuspendedTaskMeta()] removing suspended task', {
          taskID,
          componentIdx: this.#componentIdx,
        });
        const idx = this.#suspendedTaskIDs.findIndex(t => t === taskID);
        const meta = this.#suspendedTasksByTaskID.get(taskID);
        this.#suspendedTaskIDs[idx] = null;
        this.#suspendedTasksByTaskID.delete(taskID);
        return meta;
      }
      
      #addSuspendedTaskMeta(meta) {
        if (!meta) { throw new Error('missing task meta'); }
        const taskID = meta.taskID;
        this.#suspendedTasksByTaskID.set(taskID, meta);
        this.#suspendedTaskIDs.push(taskID);
        if (this.#suspendedTasksByTaskID.size < this.#suspendedTaskIDs.length - 10) {
          this.#suspendedTaskIDs = this.#suspendedTaskIDs.filter(t => t !== null);
        }
      }
      
      // TODO(threads): readyFn is normally on the thread
      suspendTask(args) {
        const { task, readyFn, cancellable, onResume } = args;
        const taskID = task.id();
        const componentIdx = task.componentIdx();
        _debugLog('[ComponentAsyncState#suspendTask()]', {
          taskID,
          componentIdx: this.#componentIdx,
          taskEntryFnName: task.entryFnName(),
          subtask: task.getParentSubtask(),
        });
        
        if (componentIdx !== this.#componentIdx) {
          throw new Error('assert: task component idx should match async state');
        }
        
        if (this.#getSuspendedTaskMeta(taskID)) {
          throw new Error(`task [${taskID}] already suspended`);
        }
        
        let promise;
        let resume;
        if (onResume) {
          resume = () => onResume(!task.isCancelled());
        } else {
          const resolvers = promiseWithResolvers();
          promise = resolvers.promise;
          resume = () => resolvers.resolve(!task.isCancelled());
        }
        this.#addSuspendedTaskMeta({
          task,
          taskID,
          cancellable,
          readyFn,
          resume: () => {
            _debugLog('[ComponentAsyncState] resuming suspended task', {
              taskID,
              componentIdx: this.#componentIdx,
            });
            // TODO(threads): it's thread cancellation we should be checking for below, not task
            resume();
          },
        });
        
        // A caller synchronously driving one task quantum (for
        // example, subtask.cancel) waits for the resumed task to
        // either resolve or suspend again.
        task.notifyProgress();
        
        this.runTickLoop();
        _checkForDeadlock();
        
        return promise;
      }
      
      resumeTaskByID(taskID) {
        const meta = this.#removeSuspendedTaskMeta(taskID);
        if (!meta) { return false; }
        if (meta.taskID !== taskID) { throw new Error('task ID does not match'); }
        meta.resume();
        return true;
      }
      
      suspendedTaskReady(taskID) {
        const meta = this.#getSuspendedTaskMeta(taskID);
        if (!meta) { return false; }
        if (!meta.readyFn) {
          throw new Error(`suspended task [${taskID}] is missing a readiness function`);
        }
        return meta.task.isRejected() || meta.readyFn();
      }
      
      suspendedTaskCancellable(taskID) {
        return !!this.#getSuspendedTaskMeta(taskID)?.cancellable;
      }
      
      isTaskSuspended(taskID) {
        return this.#suspendedTasksByTaskID.has(taskID);
      }
      
      suspendedTaskMetas() {
        return this.#suspendedTasksByTaskID.values();
      }
      
      addPendingTaskStart() { this.#pendingTaskStarts++; }
      removePendingTaskStart() { this.#pendingTaskStarts--; }
      
      hasPendingSchedulerWork() {
        if (this.#pendingTaskStarts > 0) { return true; }
        if (this.#lockHandoffScheduled) { return true; }
        for (const meta of this.#suspendedTasksByTaskID.values()) {
          if (meta.task.isRejected() || meta.readyFn()) { return true; }
        }
        return false;
      }
      
      async runTickLoop() {
        if (this.#tickLoop !== null) { return; }
        this.#tickLoop = 1;
        setTimeout(async () => {
          let result = this.tick();
          while (result !== ComponentAsyncState.TickResult.DONE) {
            if (result === ComponentAsyncState.TickResult.IDLE) {
              _checkForDeadlock();
            }
            // After resuming a task, re-tick as soon as the resumed
            // slice's microtask continuations have drained (timeout 0)
            // so queued sibling resumptions aren't charged the idle
            // polling interval; otherwise poll at the idle cadence.
            const delay = result === ComponentAsyncState.TickResult.RESUMED ? 0 : 10;
            await new Promise((resolve) => setTimeout(resolve, delay));
            result = this.tick();
          }
          this.#tickLoop = null;
        }, 10);
      }
      
      tick() {
        // _debugLog('[ComponentAsyncState#tick()]', { suspendedTaskIDs: this.#suspendedTaskIDs });
        
        const resumableTasks = this.#suspendedTaskIDs.filter(t => t !== null);
        for (const taskID of resumableTasks) {
          const meta = this.#suspendedTasksByTaskID.get(taskID);
          if (!meta || !meta.readyFn) {
            throw new Error(`missing/invalid task despite ID [${taskID}] being present`);
          }
          
          // If the task failed via any means, allow the task to resume because
          // it's been cancelled -- the callback should immediately exit as well
          if (meta.task.isRejected()) {
            _debugLog('[ComponentAsyncState#tick()] detected task rejection, leaving early', { meta });
            this.resumeTaskByID(taskID);
            return ComponentAsyncState.TickResult.RESUMED;
          }
          
          const isReady = meta.readyFn();
          if (!isReady) { continue; }
          
          _debugLog('[ComponentAsyncState#tick()] resuming task via tick', {
            taskID,
            componentIdx: this.#componentIdx,
          });
          this.resumeTaskByID(taskID);
          
          // NOTE: during single-flight resumption, we should resume at most one task per
          // tick so that the resumed slice (a microtask continuation)
          // runs -- and its current-task register window opens and
          // closes -- before any sibling task of this component is
          // resumed.
          //
          // Resuming multiple suspended tasks in one synchronous
          // cascade interleaves their register save/restore windows
          // ([restoreA, restoreB, resumeA, resumeB]), re-entering wasm
          // with the register naming the wrong task, and the
          // 'known residual' of the JSPI current-task register
          // fix); with concurrent task lifetimes per component this
          // corrupts guest context-local storage.
          return ComponentAsyncState.TickResult.RESUMED;
        }
        
        const idle = this.#suspendedTaskIDs.filter(t => t !== null).length > 0;
        return idle
        ? ComponentAsyncState.TickResult.IDLE
        : ComponentAsyncState.TickResult.DONE;
      }
      
      createWaitable(args) {
        return new Waitable({ target: args?.target, });
      }
    }
    
    function getOrCreateAsyncState(componentIdx, init) {
      if (!ASYNC_STATE.has(componentIdx)) {
        const newState = new ComponentAsyncState({ componentIdx });
        ASYNC_STATE.set(componentIdx, newState);
      }
      return ASYNC_STATE.get(componentIdx);
    }
    const GLOBAL_COMPONENT_MEMORY_MAP = new Map();
    
    function lookupMemoriesForComponent(args) {
      const { componentIdx } = args ?? {};
      if (args.componentIdx === undefined) { throw new TypeError("missing component idx"); }
      
      const metas = GLOBAL_COMPONENT_MEMORY_MAP.get(componentIdx);
      if (!metas) { return []; }
      
      if (args.memoryIdx === undefined) {
        return Object.values(metas);
      }
      
      const meta = metas[args.memoryIdx];
      return meta?.memory;
    }
    
    class AsyncSubtask {
      static _ID = 0n;
      
      static State = {
        STARTING: 0,
        STARTED: 1,
        RETURNED: 2,
        CANCELLED_BEFORE_STARTED: 3,
        CANCELLED_BEFORE_RETURNED: 4,
      };
      
      #id;
      #state = AsyncSubtask.State.STARTING;
      #componentIdx;
      
      #parentTask;
      #childTask = null;
      
      #dropped = false;
      #cancelRequested = false;
      
      #memoryIdx = null;
      #lenders = null;
      
      #waitable = null;
      
      #callbackFn = null;
      #callbackFnName = null;
      
      #postReturnFn = null;
      #onProgressFn = null;
      #pendingEventFn = null;
      
      #callMetadata = {};
      
      #resolved = false;
      
      #onResolveHandlers = [];
      #onStartHandlers = [];
      
      #result = null;
      #resultSet = false;
      
      fnName;
      target;
      isAsync;
      isManualAsync;
      // One execution slice awaited by the conditional cancel trampoline.
      cancelProgress = null;
      
      constructor(args) {
        if (typeof args.componentIdx !== 'number') {
          throw new Error('invalid componentIdx for subtask creation');
        }
        this.#componentIdx = args.componentIdx;
        
        this.#id = ++AsyncSubtask._ID;
        this.fnName = args.fnName;
        
        if (!args.parentTask) { throw new Error('missing parent task during subtask creation'); }
        this.#parentTask = args.parentTask;
        
        if (args.childTask) { this.#childTask = args.childTask; }
        
        if (args.memoryIdx) { this.#memoryIdx = args.memoryIdx; }
        
        if (!args.waitable) { throw new Error("missing/invalid waitable"); }
        this.#waitable = args.waitable;
        
        if (args.callMetadata) { this.#callMetadata = args.callMetadata; }
        
        this.#lenders = [];
        this.target = args.target;
        this.isAsync = args.isAsync;
        this.isManualAsync = args.isManualAsync;
      }
      
      id() { return this.#id; }
      parentTaskID() { return this.#parentTask?.id(); }
      childTaskID() { return this.#childTask?.id(); }
      state() { return this.#state; }
      
      waitable() { return this.#waitable; }
      waitableRep() { return this.#waitable.idx(); }
      
      join() { return this.#waitable.join(...arguments); }
      getPendingEvent() { return this.#waitable.getPendingEvent(...arguments); }
      hasPendingEvent() { return this.#waitable.hasPendingEvent(...arguments); }
      setPendingEvent() { return this.#waitable.setPendingEvent(...arguments); }
      
      setTarget(tgt) { this.target = tgt; }
      
      getResult() {
        if (!this.#resultSet) { throw new Error("subtask result has not been set") }
        return this.#result;
      }
      setResult(v) {
        if (this.#resultSet) { throw new Error("subtask result has already been set"); }
        this.#result = v;
        this.#resultSet = true;
      }
      
      componentIdx() { return this.#componentIdx; }
      
      setChildTask(t) {
        if (!t) { throw new Error('cannot set missing/invalid child task on subtask'); }
        if (this.#childTask) { throw new Error('child task is already set on subtask'); }
        if (this.#parentTask === t) { throw new Error("parent cannot be child"); }
        this.#childTask = t;
      }
      getChildTask(t) { return this.#childTask; }
      
      getParentTask() { return this.#parentTask; }
      
      setCallbackFn(f, name) {
        if (!f) { return; }
        if (this.#callbackFn) { throw new Error('callback fn can only be set once'); }
        this.#callbackFn = f;
        this.#callbackFnName = name;
      }
      
      getCallbackFnName() {
        if (!this.#callbackFn) { return undefined; }
        return this.#callbackFn.name;
      }
      
      setPostReturnFn(f) {
        if (!f) { return; }
        if (this.#postReturnFn) { throw new Error('postReturn fn can only be set once'); }
        this.#postReturnFn = f;
      }
      
      setOnProgressFn(f) {
        if (this.#onProgressFn) { throw new Error('on progress fn can only be set once'); }
        this.#onProgressFn = f;
      }
      
      isNotStarted() {
        return this.#state == AsyncSubtask.State.STARTING;
      }
      
      cancellationRequested() { return this.#cancelRequested; }
      
      // Request cooperative cancellation of this subtask, on behalf of the
      // supertask (i.e. `canon subtask.cancel`).
      //
      // If the callee is another guest task, the request is delivered to it and
      // the callee confirms via `task.cancel` (or still resolves via `task.return`).
      //
      // If the callee is a host function there is (currently) no host-side
      // cancellation hook, so the pending call is treated as immediately
      // cancelled -- consistent with hosts being expected to resolve
      // cancellation promptly -- and any later host resolution is discarded
      // (see `AsyncTask#onResolve`).
      requestCancellation() {
        _debugLog('[AsyncSubtask#requestCancellation()] args', {
          componentIdx: this.#componentIdx,
          subtaskID: this.#id,
          state: this.#state,
          childTaskID: this.childTaskID(),
          fnName: this.fnName,
        });
        if (this.#cancelRequested) {
          throw new Error('cancellation has already been requested for this subtask');
        }
        this.#cancelRequested = true;
        
        if (this.#resolved) { return; }
        
        if (this.#childTask) {
          this.#childTask.requestCancellation();
          return;
        }
        
        this.onResolve(null);
      }
      
      registerOnStartHandler(f) {
        this.#onStartHandlers.push(f);
      }
      
      onStart(args) {
        _debugLog('[AsyncSubtask#onStart()] args', {
          componentIdx: this.#componentIdx,
          subtaskID: this.#id,
          parentTaskID: this.parentTaskID(),
          fnName: this.fnName,
          args,
        });
        
        if (this.#onProgressFn) { this.#onProgressFn(); }
        
        // Starting a nested operation is a task execution boundary.
        // In particular, a cancellation handler may synchronously
        // enter an import which then suspends in the host.  Wake a
        // supertask that is driving one cancellation slice so an
        // async `subtask.cancel` can report BLOCKED without waiting
        // for that nested operation to finish.
        this.#parentTask.notifyProgress();
        
        this.#state = AsyncSubtask.State.STARTED;
        
        let result;
        
        // If we have been provided a helper start function as a result of
        // component fusion performed by wasmtime tooling, then we can call that helper and lifts/lowers will
        // be performed for us.
        //
        // See also documentation on `HostIntrinsic::PrepareCall`
        //
        if (this.#callMetadata.startFn) {
          result = this.#callMetadata.startFn.apply(null, args?.startFnParams ?? []);
        }
        
        return result;
      }
      
      
      registerOnResolveHandler(f) {
        this.#onResolveHandlers.push(f);
      }
      
      reject(subtaskErr) {
        if (this.#resolved) { return; }
        
        if (this.#onProgressFn) { this.#onProgressFn(); }
        
        if (this.#state === AsyncSubtask.State.STARTING) {
          this.#state = AsyncSubtask.State.CANCELLED_BEFORE_STARTED;
        } else if (this.#state === AsyncSubtask.State.STARTED) {
          this.#state = AsyncSubtask.State.CANCELLED_BEFORE_RETURNED;
        } else {
          throw new Error('cannot reject a completed subtask');
        }
        
        this.#resolved = true;
        this.#parentTask.removeSubtask(this);
        this.#parentTask.reject(subtaskErr);
      }
      
      onResolve(subtaskValue) {
        _debugLog('[AsyncSubtask#onResolve()] args', {
          componentIdx: this.#componentIdx,
          subtaskID: this.#id,
          isAsync: this.isAsync,
          childTaskID: this.childTaskID(),
          parentTaskID: this.parentTaskID(),
          parentTaskFnName: this.#parentTask?.entryFnName(),
          fnName: this.fnName,
        });
        
        if (this.#resolved) {
          throw new Error('subtask has already been resolved');
        }
        
        if (this.#onProgressFn) { this.#onProgressFn(); }
        
        if (subtaskValue === null && this.#cancelRequested) {
          if (this.#state === AsyncSubtask.State.STARTING) {
            this.#state = AsyncSubtask.State.CANCELLED_BEFORE_STARTED;
          } else {
            if (this.#state !== AsyncSubtask.State.STARTED) {
              throw new Error('resolved subtask must have been started before cancellation');
            }
            this.#state = AsyncSubtask.State.CANCELLED_BEFORE_RETURNED;
          }
        } else {
          if (this.#state !== AsyncSubtask.State.STARTED) {
            throw new Error('resolved subtask must have been started before completion');
          }
          this.#state = AsyncSubtask.State.RETURNED;
        }
        
        this.setResult(subtaskValue);
        
        for (const f of this.#onResolveHandlers) {
          try {
            f(subtaskValue);
          } catch (err) {
            console.error("error during subtask resolve handler", err);
            throw err;
          }
        }
        
        const callMetadata = this.getCallMetadata();
        
        // TODO(fix): we should be able to easily have the caller's meomry
        // to lower into here, but it's not present in PrepareCall
        const memory = callMetadata.memory ?? this.#parentTask?.getReturnMemory() ?? lookupMemoriesForComponent({ componentIdx: this.#parentTask?.componentIdx() })[0];
        // NOTE: cancelled resolutions carry no value, so nothing is lowered
        const returned = this.#state === AsyncSubtask.State.RETURNED;
        if (returned && callMetadata && !callMetadata.returnFn && (this.isAsync || callMetadata.funcTypeIsAsync) && callMetadata.resultPtr && memory) {
          const { resultPtr, realloc } = callMetadata;
          const lowers = callMetadata.lowers; // may have been updated in task.return of the child
          if (lowers && lowers.length > 0) {
            lowers[0]({
              componentIdx: this.#componentIdx,
              memory,
              realloc,
              vals: [subtaskValue],
              storagePtr: resultPtr,
              stringEncoding: callMetadata.stringEncoding,
            });
          }
        }
        
        this.#resolved = true;
        this.#parentTask.removeSubtask(this);
        
        if (!this.isAsync) {
          this.deliverResolve();
          const rep = this.waitableRep();
          if (rep) {
            try {
              const removed = this.#getComponentState().handles.remove(rep);
              if (removed !== this) {
                throw new Error("unexpectedly received non-self Subtask from handle removal");
              }
              this.drop();
            } catch (err) {
              _debugLog('[AsyncSubtask#onResolve()] failed to remove subtask after sync subtask completion', err);
            }
          }
        }
      }
      
      getStateNumber() { return this.#state; }
      isReturned() { return this.#state === AsyncSubtask.State.RETURNED; }
      
      getCallMetadata() { return this.#callMetadata; }
      
      isResolved() {
        if (this.#state === AsyncSubtask.State.STARTING
        || this.#state === AsyncSubtask.State.STARTED) {
          return false;
        }
        if (this.#state === AsyncSubtask.State.RETURNED
        || this.#state === AsyncSubtask.State.CANCELLED_BEFORE_STARTED
        || this.#state === AsyncSubtask.State.CANCELLED_BEFORE_RETURNED) {
          return true;
        }
        throw new Error('unrecognized internal Subtask state [' + this.#state + ']');
      }
      
      addLender(handle) {
        _debugLog('[AsyncSubtask#addLender()] args', { handle });
        if (!Number.isNumber(handle)) { throw new Error('missing/invalid lender handle [' + handle + ']'); }
        
        if (this.#lenders.length === 0 || this.isResolved()) {
          throw new Error('subtask has no lendors or has already been resolved');
        }
        
        handle.lends++;
        this.#lenders.push(handle);
      }
      
      deliverResolve() {
        _debugLog('[AsyncSubtask#deliverResolve()] args', {
          lenders: this.#lenders,
          parentTaskID: this.parentTaskID(),
          subtaskID: this.#id,
          childTaskID: this.childTaskID(),
          resolved: this.isResolved(),
          resolveDelivered: this.resolveDelivered(),
        });
        
        const cannotDeliverResolve = this.resolveDelivered() || !this.isResolved();
        if (cannotDeliverResolve) {
          throw new Error('subtask cannot deliver resolution twice, and the subtask must be resolved');
        }
        
        for (const lender of this.#lenders) {
          lender.lends--;
        }
        
        this.#lenders = null;
      }
      
      resolveDelivered() {
        _debugLog('[AsyncSubtask#resolveDelivered()] args', { });
        if (this.#lenders === null && !this.isResolved()) {
          throw new Error('invalid subtask state, lenders missing and subtask has not been resolved');
        }
        return this.#lenders === null;
      }
      
      drop() {
        _debugLog('[AsyncSubtask#drop()] args', {
          componentIdx: this.#componentIdx,
          parentTaskID: this.#parentTask?.id(),
          parentTaskFnName: this.#parentTask?.entryFnName(),
          childTaskID: this.#childTask?.id(),
          childTaskFnName: this.#childTask?.entryFnName(),
          subtaskFnName: this.fnName,
        });
        if (!this.#waitable) { throw new Error('missing/invalid inner waitable'); }
        if (!this.resolveDelivered()) {
          throw new Error('cannot drop a subtask which has not yet resolved');
        }
        if (this.#waitable) { this.#waitable.drop() }
        this.#dropped = true;
      }
      
      #getComponentState() {
        const state = getOrCreateAsyncState(this.#componentIdx);
        if (!state) {
          throw new Error('invalid/missing async state for component [' + componentIdx + ']');
        }
        return state;
      }
      
      getWaitableHandleIdx() {
        _debugLog('[AsyncSubtask#getWaitableHandleIdx()] args', { });
        if (!this.#waitable) { throw new Error('missing/invalid waitable'); }
        return this.waitableRep();
      }
    }
    
    class FutureValue {
      #start;
      #settled;
      #hideThen = 0;
      #thenFn;
      
      constructor(start) {
        if (typeof start !== 'function') {
          throw new TypeError('future start operation must be a function');
        }
        this.#start = start;
        this.#thenFn = this.#then.bind(this);
      }
      
      get then() {
        return this.#hideThen === 0 ? this.#thenFn : undefined;
      }
      
      #read() {
        if (!this.#settled) {
          // The start operation resolves to a non-thenable box so a
          // future-valued payload cannot be assimilated by this Promise.
          this.#settled = Promise.resolve().then(this.#start);
        }
        return this.#settled;
      }
      
      resolveAsValue(resolve) {
        this.#hideThen++;
        try {
          resolve(this);
        } finally {
          this.#hideThen--;
        }
      }
      
      #deliver(resolve, value) {
        if (value instanceof FutureValue) {
          // Promise resolution reads `then` synchronously. Hide it only
          // for that lookup so resolving this layer yields the inner
          // FutureValue instead of recursively awaiting it.
          value.resolveAsValue(resolve);
          return;
        }
        resolve(value);
      }
      
      #then(resolve, reject) {
        return this.#read().then(
        box => this.#deliver(resolve, box.value),
        reject,
        );
      }
    }
    const ASYNC_DETERMINISM = 'random';
    const _coinFlip = () => { return Math.random() > 0.5; };
    
    const ASYNC_EVENT_CODE = {
      NONE: 0,
      SUBTASK: 1,
      STREAM_READ: 2,
      STREAM_WRITE: 3,
      FUTURE_READ: 4,
      FUTURE_WRITE: 5,
      TASK_CANCELLED: 6,
    };
    const CURRENT_TASK_META = {};
    
    function _withGlobalCurrentTaskMeta(args) {
      _debugLog('[_withGlobalCurrentTaskMeta()] args', args);
      if (!args) { throw new TypeError('args missing'); }
      if (args.taskID === undefined) { throw new TypeError('missing task ID'); }
      if (args.componentIdx === undefined) { throw new TypeError('missing component idx'); }
      if (!args.fn) { throw new TypeError('missing fn'); }
      const { taskID, componentIdx, fn } = args;
      const previous = CURRENT_TASK_META[componentIdx] ?? null;
      const previousCurrent = CURRENT_TASK_META.current ?? null;
      
      try {
        CURRENT_TASK_META.current =
        CURRENT_TASK_META[componentIdx] = { taskID, componentIdx };
        return fn();
      } catch (err) {
        _debugLog("error while executing sync callee/callback", {
          ...args,
          err,
        });
        throw err;
      } finally {
        // Synchronous wrappers can nest without any intervening JS
        // scheduling. Restore the caller rather than clearing it so
        // helper core exports (for example fused return adapters) can
        // temporarily run under a different task of the same component.
        CURRENT_TASK_META[componentIdx] = previous;
        CURRENT_TASK_META.current = previousCurrent;
      }
    }
    
    async function _withGlobalCurrentTaskMetaAsync(args) {
      _debugLog('[_withGlobalCurrentTaskMetaAsync()] args', args);
      if (!args) { throw new TypeError('args missing'); }
      if (args.taskID === undefined) { throw new TypeError('missing task ID'); }
      if (args.componentIdx === undefined) { throw new TypeError('missing component idx'); }
      if (!args.fn) { throw new TypeError('missing fn'); }
      
      const { taskID, componentIdx, fn } = args;
      
      try {
        CURRENT_TASK_META.current =
        CURRENT_TASK_META[componentIdx] = { taskID, componentIdx };
        return await fn();
      } catch (err) {
        _debugLog("error while executing async callee/callback", {
          ...args,
          err,
        });
        throw err;
      } finally {
        CURRENT_TASK_META[componentIdx] = null;
        if (CURRENT_TASK_META.current?.taskID === taskID) {
          CURRENT_TASK_META.current = null;
        }
      }
    }
    
    class AsyncTask {
      static _ID = 0n;
      
      static State = {
        INITIAL: 'initial',
        CANCELLED: 'cancelled',
        CANCEL_PENDING: 'cancel-pending',
        CANCEL_DELIVERED: 'cancel-delivered',
        RESOLVED: 'resolved',
      }
      
      static BlockResult = {
        CANCELLED: 'block.cancelled',
        NOT_CANCELLED: 'block.not-cancelled',
      }
      
      #id;
      #componentIdx;
      #state;
      #isAsync;
      #isManualAsync;
      #callingWasmExport = true;
      #lockFreeEntry = false;
      #preserveFutureResult;
      #entryFnName = null;
      
      #onResolveHandlers = [];
      #progressWaiters = [];
      #completionPromise = null;
      #completionValue;
      #completionReady = false;
      #settleCompletionPromise;
      #rejected = false;
      
      #exitPromise = null;
      #onExitHandlers = [];
      
      #memoryIdx = null;
      #memory = null;
      
      #callbackFn = null;
      #callbackFnName = null;
      
      #postReturnFn = null;
      
      #getCalleeParamsFn = null;
      #calleeIsAsync = null;
      
      #stringEncoding = null;
      
      #parentSubtask = null;
      
      #errHandling;
      
      #backpressurePromise;
      #backpressureWaiters = 0n;
      
      #returnLowerFns = null;
      
      #resourceScopeId;
      #resourceBorrowCount = 0;
      #resourceLenders = [];
      #resourceScopeExited = false;
      
      #subtasks = [];
      
      #entered = false;
      #exited = false;
      #errored = null;
      
      cancelled = false;
      cancelRequested = false;
      alwaysTaskReturn = false;
      
      returnCalls =  0;
      storage = [0, 0];
      tmpRetI64HighBits = 0|0;
      
      constructor(opts) {
        this.#id = ++AsyncTask._ID;
        this.#resourceScopeId = ++RESOURCE_SCOPE_ID;
        RESOURCE_SCOPE_TASKS.set(this.#resourceScopeId, this);
        
        if (opts?.componentIdx === undefined) {
          throw new TypeError('missing component id during task creation');
        }
        this.#componentIdx = opts.componentIdx;
        
        this.#state = AsyncTask.State.INITIAL;
        this.#isAsync = opts?.isAsync ?? false;
        this.#isManualAsync = opts?.isManualAsync ?? false;
        this.#preserveFutureResult = opts?.preserveFutureResult ?? false;
        this.#entryFnName = opts.entryFnName;
        // Tasks that execute guest slices (export calls, fused
        // callees) default to true; import-handler tasks pass false
        // explicitly (they run host code nested inside the caller's
        // already-locked slice).
        this.#callingWasmExport = opts?.callingWasmExport !== false;
        
        const {
          promise: completionPromise,
          resolve: resolveCompletionPromise,
          reject: rejectCompletionPromise,
        } = promiseWithResolvers();
        this.#completionPromise = completionPromise;
        // A nested rejection can reach the root task while its Wasm
        // entrypoint is still suspended, before the export wrapper awaits
        // this promise. Mark it handled immediately while preserving the
        // original rejected promise for the eventual caller.
        completionPromise.catch(() => {});
        
        let completionSettled = false;
        const settleCompletionPromise = () => {
          if (completionSettled || !this.#completionReady) { return; }
          completionSettled = true;
          if (this.#errored !== null) {
            rejectCompletionPromise(this.#errored);
          } else if (this.#rejected) {
            rejectCompletionPromise(this.#completionValue);
          } else if (
          this.#preserveFutureResult
          && this.#completionValue instanceof FutureValue
          ) {
            this.#completionValue.resolveAsValue(resolveCompletionPromise);
          } else {
            resolveCompletionPromise(this.#completionValue);
          }
        };
        
        this.#settleCompletionPromise = settleCompletionPromise;
        this.#onResolveHandlers.push((results) => {
          if (this.#parentSubtask !== null) { return; }
          if (!this.#isAsync && !this.#isManualAsync) { return; }
          this.#completionValue = results;
          this.#completionReady = true;
          // Publish after the current guest slice returns, so a trap
          // in that slice can still reject the call. Do not wait for
          // task exit: detached work may require further host calls
          // or consumption of a returned resource's stream.
        });
        
        const {
          promise: exitPromise,
          resolve: resolveExitPromise,
          reject: rejectExitPromise,
        } = promiseWithResolvers();
        this.#exitPromise = exitPromise;
        
        this.#onExitHandlers.push(() => {
          if (this.#parentSubtask === null && (this.#isAsync || this.#isManualAsync)) {
            settleCompletionPromise();
          }
          resolveExitPromise();
        });
        
        if (opts.callbackFn) { this.#callbackFn = opts.callbackFn; }
        if (opts.callbackFnName) { this.#callbackFnName = opts.callbackFnName; }
        
        if (opts.getCalleeParamsFn) { this.#getCalleeParamsFn = opts.getCalleeParamsFn; }
        if (opts.stringEncoding) { this.#stringEncoding = opts.stringEncoding; }
        
        if (opts.parentSubtask) { this.#parentSubtask = opts.parentSubtask; }
        
        
        if (opts.errHandling) { this.#errHandling = opts.errHandling; }
      }
      
      taskState() { return this.#state; }
      id() { return this.#id; }
      componentIdx() { return this.#componentIdx; }
      entryFnName() { return this.#entryFnName; }
      
      resourceScopeId() { return this.#resourceScopeId; }
      
      addBorrowedHandle() {
        if (this.#resourceScopeExited) {
          throw new Error('cannot add a borrow to an exited resource scope');
        }
        this.#resourceBorrowCount++;
      }
      
      removeBorrowedHandle() {
        if (this.#resourceBorrowCount === 0) {
          throw new Error('resource borrow count underflow');
        }
        this.#resourceBorrowCount--;
      }
      
      addResourceLender(table, handle) {
        if (this.#resourceScopeExited) {
          throw new Error('cannot add a lender to an exited resource scope');
        }
        this.#resourceLenders.push({ table, handle });
      }
      
      validateResourceBorrowScope() {
        if (this.#resourceScopeExited) { return; }
        if (this.#resourceBorrowCount !== 0) {
          throw new WebAssemblyRuntimeError('borrow handles still remain at the end of the call');
        }
        for (const { table, handle } of this.#resourceLenders) {
          const idx = handle << 1;
          const lendCount = table[idx];
          if (!Number.isInteger(lendCount) || lendCount <= 0 || lendCount >= 2**30) {
            throw new Error('invalid resource lender state at scope exit');
          }
          table[idx] = lendCount - 1;
        }
        this.#resourceLenders = [];
        this.#resourceScopeExited = true;
        RESOURCE_SCOPE_TASKS.delete(this.#resourceScopeId);
      }
      
      completionPromise() { return this.#completionPromise; }
      settleCompletion() { this.#settleCompletionPromise(); }
      exitPromise() { return this.#exitPromise; }
      
      waitForProgress() {
        const { promise, resolve } = promiseWithResolvers();
        this.#progressWaiters.push(resolve);
        return promise;
      }
      
      notifyProgress() {
        const waiters = this.#progressWaiters;
        this.#progressWaiters = [];
        for (const resolve of waiters) { resolve(); }
      }
      
      isAsync() { return this.#isAsync; }
      isManualAsync() { return this.#isManualAsync; }
      isSync() { return !this.isAsync(); }
      
      getErrHandling() { return this.#errHandling; }
      
      hasCallback() { return this.#callbackFn !== null; }
      
      getReturnMemoryIdx() { return this.#memoryIdx; }
      setReturnMemoryIdx(idx) {
        if (idx === null) { return; }
        this.#memoryIdx = idx;
      }
      
      getReturnMemory() { return this.#memory; }
      setReturnMemory(m) {
        if (m === null) { return; }
        this.#memory = m;
      }
      
      setReturnLowerFns(fns) { this.#returnLowerFns = fns; }
      getReturnLowerFns() { return this.#returnLowerFns; }
      
      setCalleeIsAsync(value) {
        if (typeof value !== 'boolean') { throw new TypeError('callee async state must be a boolean'); }
        this.#calleeIsAsync = value;
      }
      
      setParentSubtask(subtask) {
        if (!subtask || !(subtask instanceof AsyncSubtask)) { return }
        if (this.#parentSubtask) { throw new Error('parent subtask can only be set once'); }
        this.#parentSubtask = subtask;
      }
      
      getParentSubtask() { return this.#parentSubtask; }
      
      // TODO(threads): this is very inefficient, we can pass along a root task,
      // and ideally do not need this once thread support is in place
      getRootTask() {
        let currentSubtask = this.getParentSubtask();
        let task = this;
        while (currentSubtask) {
          task = currentSubtask.getParentTask();
          currentSubtask = task.getParentSubtask();
        }
        return task;
      }
      
      setPostReturnFn(f) {
        if (!f) { return; }
        if (this.#postReturnFn) { throw new Error('postReturn fn can only be set once'); }
        this.#postReturnFn = f;
      }
      
      setCallbackFn(f, name) {
        if (!f) { return; }
        if (this.#callbackFn) { throw new Error('callback fn can only be set once'); }
        this.#callbackFn = f;
        this.#callbackFnName = name;
      }
      
      getCallbackFnName() {
        if (!this.#callbackFnName) { return undefined; }
        return this.#callbackFnName;
      }
      
      runCallbackFn(...args) {
        if (!this.#callbackFn) { throw new Error('no callback function has been set for task'); }
        if (this.#callbackFn._jcoMaySuspend === false) {
          return _withGlobalCurrentTaskMeta({
            taskID: this.#id,
            componentIdx: this.#componentIdx,
            fn: () => this.#callbackFn.apply(null, args),
          });
        }
        return _withGlobalCurrentTaskMetaAsync({
          taskID: this.#id,
          componentIdx: this.#componentIdx,
          fn: () => { return this.#callbackFn.apply(null, args); }
        });
      }
      
      getCalleeParams() {
        if (!this.#getCalleeParamsFn) { throw new Error('missing/invalid getCalleeParamsFn'); }
        return this.#getCalleeParamsFn();
      }
      
      // Legacy manually-async exports are sync-typed in the component
      // but use JSPI precisely so their guest stack may suspend.
      mayBlock() { return this.isAsync() || this.isManualAsync() || this.isResolvedState() }
      
      mayEnter(task) {
        const cstate = getOrCreateAsyncState(this.#componentIdx);
        if (cstate.hasBackpressure()) {
          _debugLog('[AsyncTask#mayEnter()] disallowed due to backpressure', { taskID: this.#id });
          return false;
        }
        if (!cstate.callingSyncImport()) {
          _debugLog('[AsyncTask#mayEnter()] disallowed due to sync import call', { taskID: this.#id });
          return false;
        }
        const callingSyncExportWithSyncPending = cstate.callingSyncExport && !task.isAsync;
        if (!callingSyncExportWithSyncPending) {
          _debugLog('[AsyncTask#mayEnter()] disallowed due to sync export w/ sync pending', { taskID: this.#id });
          return false;
        }
        return true;
      }
      
      enterSync() {
        if (this.needsExclusiveLock()) {
          const cstate = getOrCreateAsyncState(this.#componentIdx);
          if (!cstate.isExclusivelyLocked()) {
            cstate.exclusiveLock(this.#id);
          } else {
            // A host-called sync export arriving while another
            // task's slice holds the lock: synchronous entry
            // cannot wait, and historically this entry silently
            // stole the hold. Run without the lock instead --
            // the holder's bookkeeping stays intact and its
            // release still pairs
            this.#lockFreeEntry = true;
            _debugLog('[AsyncTask#enterSync()] entering without exclusive lock', {
              taskID: this.#id,
              componentIdx: this.#componentIdx,
            });
          }
        }
        return true;
      }
      
      tryEnter() {
        if (this.#entered) {
          throw new Error(`task with ID [${this.#id}] should not be entered twice`);
        }
        
        if (this.deliverPendingCancel({ cancellable: true })) {
          this.cancel();
          return false;
        }
        
        const cstate = getOrCreateAsyncState(this.#componentIdx);
        if (this.isSync()) {
          this.#entered = true;
          return true;
        }
        if (cstate.hasBackpressure()) { return null; }
        if (this.needsExclusiveLock()) {
          if (cstate.isExclusivelyLocked()) { return null; }
          cstate.exclusiveLock(this.#id);
        }
        
        if (this.deliverPendingCancel({ cancellable: true })) {
          cstate.exclusiveRelease(this.#id);
          this.cancel();
          return false;
        }
        
        this.#entered = true;
        return true;
      }
      
      async enter(opts) {
        _debugLog('[AsyncTask#enter()] args', {
          taskID: this.#id,
          componentIdx: this.#componentIdx,
          subtaskID: this.getParentSubtask()?.id(),
          args: opts,
          entryFnName: this.#entryFnName,
        });
        
        if (this.#entered) {
          throw new Error(`task with ID [${this.#id}] should not be entered twice`);
        }
        
        // If cancellation was requested before the task was entered, resolve
        // as cancelled without ever running guest code
        if (this.deliverPendingCancel({ cancellable: true })) {
          this.cancel();
          return false;
        }
        
        const cstate = getOrCreateAsyncState(this.#componentIdx);
        
        if (opts?.isHost) {
          this.#entered = true;
          // A guest task may be synchronously blocked in this
          // host entry. Propagate that boundary so an async
          // cancellation driver can yield BLOCKED while the host
          // operation is outstanding.
          const parentTask = this.#parentSubtask?.getParentTask();
          if (
          parentTask?.taskState() === AsyncTask.State.CANCEL_DELIVERED
          || (parentTask && !parentTask.hasCallback())
          ) {
            parentTask.notifyProgress();
          }
          return this.#entered;
        }
        
        // NOTE: concurrent task lifetimes within one component instance are
        // permitted by the Component Model: entry is governed by the
        // backpressure and exclusive-lock checks below (the lock is held per
        // execution slice, not for the task's lifetime).
        //
        // Serializing entire task lifetimes here (the former "execution slot" queue)
        // deadlocks pipelines where a parked long-lived task's progress depends on a
        // later entry into the same component.
        
        // If a task is synchronous then we can avoid component-relevant
        // tracking and immediately enter.
        if (this.isSync()) {
          this.#entered = true;
          
          // TODO(breaking): remove once manually-specifying async fns is removed
          // It is currently possible for an actually sync export to be specified
          // as async via JSPI
          if (this.#isManualAsync) {
            if (this.needsExclusiveLock()) { await cstate.acquireExclusiveLock(this.#id); }
          }
          
          return this.#entered;
        }
        
        // Perform intial backpressure check
        if (cstate.hasBackpressure()) {
          cstate.addBackpressureWaiter();
          
          const result = await this.waitUntil({
            readyFn: () => {
              return !cstate.hasBackpressure();
            },
            cancellable: true,
          });
          
          cstate.removeBackpressureWaiter();
          
          if (!result || this.isCancelled()) {
            if (!this.isResolvedState()) { this.cancel(); }
            return false;
          }
        }
        
        // Acquire the per-slice exclusive lock (FIFO-queued when
        // contended); the first slice runs under this hold and the
        // driver loop releases/re-acquires it per slice thereafter.
        if (this.needsExclusiveLock()) {
          await cstate.acquireExclusiveLock(this.#id);
        }
        
        // Cancellation-before-start may resolve this task while its
        // queued lock acquisition is still pending. Acquiring the lock
        // does not make the already-resolved task runnable again.
        if (this.isResolvedState() || this.isCancelled()) {
          cstate.exclusiveRelease(this.#id);
          return false;
        }
        
        // Cancellation can be requested while entry is waiting for
        // backpressure or its exclusive lock. Do not execute the guest
        // after acquiring a lock for a task that should no longer start.
        if (this.deliverPendingCancel({ cancellable: true })) {
          cstate.exclusiveRelease(this.#id);
          this.cancel();
          return false;
        }
        
        this.#entered = true;
        return this.#entered;
      }
      
      isRunningState() { return this.#state !== AsyncTask.State.RESOLVED; }
      isResolvedState() { return this.#state === AsyncTask.State.RESOLVED; }
      isResolved() { return this.#state === AsyncTask.State.RESOLVED; }
      isExited() { return this.#exited; }
      
      async waitUntil(opts) {
        const { readyFn, cancellable } = opts;
        _debugLog('[AsyncTask#waitUntil()] args', { taskID: this.#id, args: { cancellable } });
        
        // TODO(fix): check for cancel
        // TODO(fix): determinism
        // TODO(threads): add this thread to waiting list
        
        const keepGoing = await this.suspendUntil({
          readyFn,
          cancellable,
        });
        
        return keepGoing;
      }
      
      async yieldUntil(opts) {
        const { readyFn, cancellable } = opts;
        _debugLog('[AsyncTask#yieldUntil()]', {
          taskID: this.#id,
          args: {
            cancellable,
          },
          componentIdx: this.#componentIdx,
        });
        
        // A callback YIELD is an explicit request to let other work run.
        // Unlike waits whose condition is already ready, it must always
        // suspend for at least one scheduler turn.
        const keepGoing = await this.immediateSuspend({ readyFn, cancellable });
        if (keepGoing) {
          return {
            code: ASYNC_EVENT_CODE.NONE,
            payload0: 0,
            payload1: 0,
          };
        }
        
        return {
          code: ASYNC_EVENT_CODE.TASK_CANCELLED,
          payload0: 0,
          payload1: 0,
        };
      }
      
      async suspendUntil(opts) {
        const { cancellable, readyFn } = opts;
        _debugLog('[AsyncTask#suspendUntil()] args', {
          taskID: this.#id,
          args: {
            cancellable,
          },
          componentIdx: this.#componentIdx,
        });
        
        const pendingCancelled = this.deliverPendingCancel({ cancellable });
        if (pendingCancelled) { return false; }
        
        const completed = await this.immediateSuspendUntil({ readyFn, cancellable });
        return completed;
      }
      
      suspendUntilCallback(opts, onResume) {
        const { cancellable, readyFn } = opts;
        if (this.deliverPendingCancel({ cancellable })) {
          onResume(false);
          return;
        }
        
        const cstate = getOrCreateAsyncState(this.#componentIdx);
        cstate.suspendTask({
          task: this,
          cancellable,
          readyFn: () => {
            if (cancellable && this.#state === AsyncTask.State.CANCEL_PENDING) {
              return true;
            }
            return readyFn();
          },
          onResume: (keepGoing) => {
            if (keepGoing && this.deliverPendingCancel({ cancellable })) {
              keepGoing = false;
            }
            onResume(keepGoing);
          },
        });
      }
      
      // TODO(threads): equivalent to thread.suspend_until()
      async immediateSuspendUntil(opts) {
        const { cancellable, readyFn } = opts;
        _debugLog('[AsyncTask#immediateSuspendUntil()] args', {
          args: {
            cancellable,
            readyFn,
          },
          taskID: this.#id,
          componentIdx: this.#componentIdx,
        });
        
        const ready = readyFn();
        if (ready && ASYNC_DETERMINISM === 'random') {
          const coinFlip = _coinFlip();
          if (coinFlip) { return true }
        }
        
        const keepGoing = await this.immediateSuspend({ cancellable, readyFn });
        return keepGoing;
      }
      
      async immediateSuspend(opts) { // NOTE: equivalent to thread.suspend()
      // TODO(threads): store readyFn on the thread
      const { cancellable, readyFn } = opts;
      _debugLog('[AsyncTask#immediateSuspend()] args', { cancellable, readyFn });
      
      const pendingCancelled = this.deliverPendingCancel({ cancellable });
      if (pendingCancelled) { return false; }
      
      const cstate = getOrCreateAsyncState(this.#componentIdx);
      const keepGoing = await cstate.suspendTask({
        task: this,
        cancellable,
        readyFn: () => {
          // A pending cancellation request wakes cancellable waits
          if (cancellable && this.#state === AsyncTask.State.CANCEL_PENDING) {
            return true;
          }
          return readyFn();
        },
      });
      if (keepGoing && this.deliverPendingCancel({ cancellable })) { return false; }
      return keepGoing;
    }
    
    deliverPendingCancel(opts) {
      const { cancellable } = opts;
      _debugLog('[AsyncTask#deliverPendingCancel()]', {
        args: { cancellable },
        taskID: this.#id,
        componentIdx: this.#componentIdx,
      });
      
      if (cancellable && this.#state === AsyncTask.State.CANCEL_PENDING) {
        this.#state = AsyncTask.State.CANCEL_DELIVERED;
        return true;
      }
      
      return false;
    }
    
    isCancelled() { return this.cancelled }
    cancellationRequested() { return this.cancelRequested; }
    
    // Request cooperative cancellation of this task, called on behalf of a
    // supertask performing `subtask.cancel` on the subtask this task backs.
    //
    // The request is delivered at this task's next cancellable wait
    // (see suspendUntil/immediateSuspend), at which point the task is
    // expected to acknowledge via `task.cancel` or still resolve via
    // `task.return`.
    requestCancellation() {
      _debugLog('[AsyncTask#requestCancellation()] args', {
        taskID: this.#id,
        componentIdx: this.#componentIdx,
        state: this.#state,
      });
      if (this.isResolvedState() || this.cancelRequested) { return; }
      this.cancelRequested = true;
      if (this.#state === AsyncTask.State.INITIAL) {
        this.#state = AsyncTask.State.CANCEL_PENDING;
      }
      // Nudge the component's tick loop so that any suspended cancellable
      // wait observes the pending cancellation promptly
      getOrCreateAsyncState(this.#componentIdx).runTickLoop();
    }
    
    cancel(args) {
      _debugLog('[AsyncTask#cancel()] args', { });
      if (this.taskState() !== AsyncTask.State.CANCEL_DELIVERED) {
        throw new Error(`(component [${this.#componentIdx}]) task [${this.#id}] invalid task state [${this.taskState()}] for cancellation`);
      }
      this.validateResourceBorrowScope();
      this.cancelled = true;
      // Cancelled tasks resolve with no value (spec: `Task.cancel` calls
      // `on_resolve(None)`); an explicit error is only present on the
      // host-driven rejection path (see `reject()`).
      this.onResolve(args?.error ?? null);
      this.#state = AsyncTask.State.RESOLVED;
      // A task cancelled before entry has no driver loop that can
      // report its exit. Entered tasks notify after releasing their
      // component slice in `exit()`.
      if (!this.#entered) { this.notifyProgress(); }
    }
    
    onResolve(taskValue) {
      const handlers = this.#onResolveHandlers;
      this.#onResolveHandlers = [];
      for (const f of handlers) {
        try {
          f(taskValue);
        } catch (err) {
          _debugLog("[AsyncTask#onResolve] error during task resolve handler", err);
          throw err;
        }
      }
      
      // Rejections are control-flow failures, not canonical ABI results.
      // Propagate them through the subtask chain without running return
      // lowering or post-return hooks for a successful result.
      if (this.#rejected) {
        this.#parentSubtask?.reject(taskValue);
        return;
      }
      
      // NOTE: if the parent subtask has already been resolved (e.g. it was
      // cancelled via `subtask.cancel` while this task was still pending),
      // this task's resolution must be discarded rather than delivered.
      const parentSubtaskPending = this.#parentSubtask && !this.#parentSubtask.isResolved();
      const taskReturned = !this.isCancelled();
      
      if (parentSubtaskPending && taskReturned) {
        const meta = this.#parentSubtask.getCallMetadata();
        // Run the rturn fn if it has not already been called -- this *should* have happened in
        // `task.return`, but some paths do not go through task.return (e.g. async lower of sync fn
        // which goes through prepare + async-start-call)
        if (meta.returnFn && !meta.returnFnCalled) {
          _debugLog('[AsyncTask#onResolve()] running returnFn', {
            componentIdx: this.#componentIdx,
            taskID: this.#id,
            subtaskID: this.#parentSubtask.id(),
          });
          const callerTask = this.#parentSubtask.getParentTask();
          _withGlobalCurrentTaskMeta({
            taskID: callerTask.id(),
            componentIdx: callerTask.componentIdx(),
            fn: () => meta.returnFn.apply(null, [taskValue, meta.resultPtr]),
          });
          meta.returnFnCalled = true;
        }
      }
      
      if (this.#postReturnFn && taskReturned) {
        _debugLog('[AsyncTask#onResolve()] running post return ', {
          componentIdx: this.#componentIdx,
          taskID: this.#id,
        });
        try {
          _withGlobalCurrentTaskMeta({
            taskID: this.#id,
            componentIdx: this.#componentIdx,
            fn: () => this.#postReturnFn(taskValue),
          });
        } catch (err) {
          _debugLog("[AsyncTask#onResolve] error during task resolve handler", err);
          throw err;
        }
      }
      
      if (parentSubtaskPending) {
        this.#parentSubtask.onResolve(taskValue);
      }
    }
    
    registerOnResolveHandler(f) {
      this.#onResolveHandlers.push(f);
    }
    
    isRejected() { return this.#rejected; }
    
    isErrored() { return this.#errored; }
    setErrored(err) {
      // Preserve the originating trap when unwinding through
      // additional guest frames produces secondary traps (often
      // an `unreachable` after a call which was expected to trap).
      if (this.#errored === null) { this.#errored = err; }
    }
    
    reject(taskErr) {
      _debugLog('[AsyncTask#reject()] args', {
        componentIdx: this.#componentIdx,
        taskID: this.#id,
        parentSubtask: this.#parentSubtask,
        parentSubtaskID: this.#parentSubtask?.id(),
        entryFnName: this.entryFnName(),
        callbackFnName: this.#callbackFnName,
        errMsg: taskErr.message,
      });
      
      this.setErrored(taskErr);
      if (this.#rejected) { return; }
      
      // A task may call `task.return` before its callback exits.
      // A trap in cleanup or spawned work must still reject the
      // host call and poison the enclosing task chain.
      if (this.isResolvedState()) {
        this.#rejected = true;
        this.#errored = taskErr;
        const parentTask = this.#parentSubtask?.getParentTask();
        if (parentTask) { parentTask.reject(taskErr); }
        return;
      }
      
      this.#rejected = true;
      this.cancelRequested = true;
      this.#state = AsyncTask.State.CANCEL_PENDING;
      const cancelled = this.deliverPendingCancel({ cancellable: true });
      
      // TODO: do cleanup here to reset the machinery so we can run again?
      
      this.cancel({ error: taskErr });
    }
    
    resolve(results) {
      _debugLog('[AsyncTask#resolve()] args', {
        componentIdx: this.#componentIdx,
        taskID: this.#id,
        entryFnName: this.entryFnName(),
        callbackFnName: this.#callbackFnName,
      });
      
      if (this.#state === AsyncTask.State.RESOLVED) {
        throw new Error(`(component [${this.#componentIdx}]) task [${this.#id}]  is already resolved (did you forget to wait for an import?)`);
      }
      
      this.validateResourceBorrowScope();
      
      this.#state = AsyncTask.State.RESOLVED;
      
      switch (results.length) {
        case 0:
        this.onResolve(undefined);
        break;
        case 1:
        this.onResolve(results[0]);
        break;
        default:
        _debugLog('[AsyncTask#resolve()] unexpected number of results', {
          componentIdx: this.#componentIdx,
          results,
          taskID: this.#id,
          subtaskID: this.#parentSubtask?.id(),
          entryFnName: this.#entryFnName,
          callbackFnName: this.#callbackFnName,
        });
        throw new Error('unexpected number of results');
      }
    }
    
    exit(args) {
      _debugLog('[AsyncTask#exit()]', {
        componentIdx: this.#componentIdx,
        taskID: this.#id,
      });
      
      if (this.#exited)  { throw new Error("task has already exited"); }
      
      if (this.#state !== AsyncTask.State.RESOLVED) {
        throw new Error(`(component [${this.#componentIdx}]) task [${this.#id}] exited without resolution`);
      }
      
      this.validateResourceBorrowScope();
      
      const state = getOrCreateAsyncState(this.#componentIdx);
      if (!state) { throw new Error('missing async state for component [' + this.#componentIdx + ']'); }
      
      // Exempt the host from exclusive lock check
      if (this.#componentIdx !== -1 && !args?.skipExclusiveLockCheck && !this.#lockFreeEntry) {
        if (this.needsExclusiveLock() && !state.exclusivelyLockedBy(this.#id)) {
          throw new Error(`task [${this.#id}] exit: component [${this.#componentIdx}] should have been exclusively locked by it`);
        }
      }
      
      // Ownership-checked: releases only this task's own hold (a
      // task exiting while another task's slice holds the lock no
      // longer clears the foreign hold).
      state.exclusiveRelease(this.#id);
      this.notifyProgress();
      
      for (const f of this.#onExitHandlers) {
        try {
          f();
        } catch (err) {
          console.error("error during task exit handler", err);
          throw err;
        }
      }
      
      this.#exited = true;
      clearCurrentTask(this.#componentIdx, this.id());
    }
    
    needsExclusiveLock() {
      // Host (-1) tasks model host-side import handling: there is no
      // guest linear memory or executor state to protect, and host
      // calls from unrelated guest components would contend spuriously.
      if (this.#componentIdx === -1) { return false; }
      // Import-handler tasks (CallInterface) run host code nested
      // inside the calling guest slice, which already holds the
      // lock; only tasks that execute guest slices need it.
      if (!this.#callingWasmExport) { return false; }
      // A sync-lifted callee cannot be reentered until the whole
      // stackful call returns. This is the Component Model's
      // automatic-backpressure rule for async-lowered calls.
      return !this.#isAsync || this.hasCallback() || this.#calleeIsAsync === false;
    }
    
    createSubtask(args) {
      _debugLog('[AsyncTask#createSubtask()] args', args);
      const { componentIdx, childTask, callMetadata, fnName, isAsync, isManualAsync } = args;
      
      const cstate = getOrCreateAsyncState(this.#componentIdx);
      if (!cstate) {
        throw new Error(`invalid/missing async state for component idx [${componentIdx}]`);
      }
      
      const waitable = new Waitable({
        componentIdx: this.#componentIdx,
        target: `subtask (internal ID [${this.#id}])`,
      });
      
      const newSubtask = new AsyncSubtask({
        componentIdx,
        childTask,
        parentTask: this,
        callMetadata,
        isAsync,
        isManualAsync,
        fnName,
        waitable,
      });
      this.#subtasks.push(newSubtask);
      newSubtask.setTarget(`subtask (internal ID [${newSubtask.id()}], waitable [${waitable.idx()}], component [${componentIdx}])`);
      waitable.setIdx(cstate.handles.insert(newSubtask));
      waitable.setTarget(`waitable for subtask (waitable id [${waitable.idx()}], subtask internal ID [${newSubtask.id()}])`);
      return newSubtask;
    }
    
    getLatestSubtask() {
      return this.#subtasks.at(-1);
    }
    
    getSubtaskByWaitableRep(rep) {
      if (rep === undefined) { throw new TypeError('missing rep'); }
      return this.#subtasks.find(s => s.waitableRep() === rep);
    }
    
    currentSubtask() {
      _debugLog('[AsyncTask#currentSubtask()]');
      if (this.#subtasks.length === 0) { return undefined; }
      return this.#subtasks.at(-1);
    }
    
    removeSubtask(subtask) {
      if (this.#subtasks.length === 0) {
        throw new Error('cannot end current subtask: no current subtask');
      }
      this.#subtasks = this.#subtasks.filter(t => t !== subtask);
      return subtask;
    }
  }
  
  function createNewCurrentTask(args) {
    _debugLog('[createNewCurrentTask()] args', args);
    const {
      componentIdx,
      isAsync,
      isManualAsync,
      preserveFutureResult,
      entryFnName,
      parentSubtaskID,
      callbackFnName,
      getCallbackFn,
      getParamsFn,
      stringEncoding,
      errHandling,
      getCalleeParamsFn,
      resultPtr,
      callingWasmExport,
    } = args;
    if (componentIdx === undefined || componentIdx === null) {
      throw new Error('missing/invalid component instance index while starting task');
    }
    let taskMetas = ASYNC_TASKS_BY_COMPONENT_IDX.get(componentIdx);
    const callbackFn = getCallbackFn ? getCallbackFn() : null;
    
    const newTask = new AsyncTask({
      componentIdx,
      isAsync,
      isManualAsync,
      preserveFutureResult,
      entryFnName,
      callbackFn,
      callbackFnName,
      stringEncoding,
      getCalleeParamsFn,
      resultPtr,
      errHandling,
      callingWasmExport,
    });
    
    const newTaskID = newTask.id();
    const newTaskMeta = { id: newTaskID, componentIdx, task: newTask };
    
    // NOTE: do not track host tasks
    ASYNC_CURRENT_TASK_IDS.push(newTaskID);
    ASYNC_CURRENT_COMPONENT_IDXS.push(componentIdx);
    
    if (!taskMetas) {
      taskMetas = [newTaskMeta];
      ASYNC_TASKS_BY_COMPONENT_IDX.set(componentIdx, [newTaskMeta]);
    } else {
      taskMetas.push(newTaskMeta);
    }
    
    return [newTask, newTaskID];
  }
  
  function _checkMayLeave(componentIdx) {
    if (INSTANCE_FLAGS.get(componentIdx)?.value !== 1) {
      throw new WebAssemblyRuntimeError('cannot leave component instance');
    }
  }
  
  function _getGlobalCurrentTaskMeta(componentIdx) {
    const v = componentIdx === undefined || componentIdx === null
    ? CURRENT_TASK_META.current
    : CURRENT_TASK_META[componentIdx];
    if (v === undefined || v === null) {
      return undefined;
    }
    return { ...v };
  }
  
  
  function _setGlobalCurrentTaskMeta(args) {
    if (!args) { throw new TypeError('args missing'); }
    if (args.taskID === undefined) { throw new TypeError('missing task ID'); }
    if (args.componentIdx === undefined) { throw new TypeError('missing component idx'); }
    const { taskID, componentIdx } = args;
    return CURRENT_TASK_META.current =
    CURRENT_TASK_META[componentIdx] = { taskID, componentIdx };
  }
  
  
  async function _clearCurrentTask(args) {
    _debugLog('[_clearCurrentTask()] args', args);
    if (!args) { throw new TypeError('args missing'); }
    if (args.taskID === undefined) { throw new TypeError('missing task ID'); }
    if (args.componentIdx === undefined) { throw new TypeError('missing component idx'); }
    const { taskID, componentIdx } = args;
    
    const meta = CURRENT_TASK_META[componentIdx];
    if (!meta) { throw new Error(`missing current task meta for component idx [${componentIdx}]`); }
    
    if (meta.taskID !== taskID) {
      throw new Error(`task ID [${meta.taskID}] != requested ID [${taskID}]`);
    }
    if (meta.componentIdx !== componentIdx) {
      throw new Error(`component idx [${meta.componentIdx}] != requested idx [${componentIdx}]`);
    }
    
    CURRENT_TASK_META[componentIdx] = null;
    if (CURRENT_TASK_META.current?.taskID === taskID) {
      CURRENT_TASK_META.current = null;
    }
  }
  
  function _lowerImportBackwardsCompat(args) {
    const params = [...arguments].slice(1);
    _debugLog('[_lowerImportBackwardsCompat()] args', { args, params });
    const {
      functionIdx,
      componentIdx,
      isAsync,
      isManualAsync,
      paramLiftFns,
      resultLowerFns,
      hasResultPointer,
      funcTypeIsAsync,
      metadata,
      memoryIdx,
      getMemoryFn,
      getReallocFn,
      importFn,
      stringEncoding,
    } = args;
    
    _checkMayLeave(componentIdx);
    
    let meta = _getGlobalCurrentTaskMeta(componentIdx);
    let createdTask;
    
    // Some components depend on initialization logic (i.e. `_initialize` or some such
    // core wasm export) that is embedded in the component, but is not executed or wizer'd
    // away before the transpiled component is attempted to be used.
    //
    // These components execut their initialization logic *when they are imported* in the
    // transpiled context -- so we may get a call to an export that is lowered without going
    // through `CallWasm` or `CallInterface`.
    //
    if (!meta) {
      if (funcTypeIsAsync || (isAsync && !isManualAsync)) {
        throw new Error('p3 async wasm exports cannot use backwards compat auto-task init');
      }
      
      const [newTask, newTaskID] = createNewCurrentTask({
        componentIdx,
        isAsync,
        isManualAsync,
        callingWasmExport: false,
      });
      createdTask = newTask;
      
      // Since we're managing the task creation ourselves we must clear ourselves
      createdTask.registerOnResolveHandler(() => {
        _clearCurrentTask({
          taskID: task.id(),
          componentIdx: task.componentIdx(),
        });
      });
      
      _setGlobalCurrentTaskMeta({
        componentIdx,
        taskID: newTaskID,
      });
      
      meta = _getGlobalCurrentTaskMeta(componentIdx);
    }
    
    const { taskID } = meta;
    
    const taskMeta = getCurrentTask(componentIdx, taskID);
    if (!taskMeta) {
      throw new Error('invalid/missing async task meta');
    }
    
    const task = taskMeta.task;
    if (!task) { throw new Error('invalid/missing async task'); }
    
    const cstate = getOrCreateAsyncState(componentIdx);
    
    if (!task.mayBlock() && funcTypeIsAsync && !isAsync) {
      throw new Error("non async exports cannot synchronously call async functions");
    }
    
    // If there is an existing task, this should be part of a subtask
    const memory = getMemoryFn();
    // Canonical ABI lower appends result storage as a trailing
    // param when async lower has any flat result, or sync lower
    // has more than one flat result.
    const resultPtr = hasResultPointer ? params[params.length - 1] : undefined;
    const subtask = task.createSubtask({
      componentIdx,
      parentTask: task,
      fnName: importFn.fnName,
      isAsync,
      isManualAsync,
      callMetadata: {
        memoryIdx,
        memory,
        realloc: getReallocFn?.(),
        getReallocFn,
        resultPtr,
        lowers: resultLowerFns,
        funcTypeIsAsync,
        stringEncoding,
      }
    });
    task.setReturnMemoryIdx(memoryIdx);
    task.setReturnMemory(getMemoryFn());
    
    subtask.onStart();
    
    // If dealing with a sync lowered sync function, we can directly return results
    //
    // TODO(breaking): remove once we get rid of manual async import specification,
    // as func types cannot be detected in that case only (and we don't need that w/ p3)
    if (!isManualAsync && !isAsync && !funcTypeIsAsync) {
      if (createdTask) { createdTask.enterSync(); }
      
      const res = importFn(...params);
      
      // TODO(breaking): remove once we get rid of manual async import specification,
      // as func types cannot be detected in that case only (and we don't need that w/ p3)
      if (!funcTypeIsAsync && !subtask.isReturned()) {
        throw new Error('post-execution subtasks must either be async or returned');
      }
      
      const syncRes = subtask.getResult();
      if (createdTask) { createdTask.resolve([syncRes]); }
      
      return syncRes;
    }
    
    // Sync-lowered async functions requires async behavior because the callee *can* block,
    // but this call must *act* synchronously and return immediately with the result
    // (i.e. not returning until the work is done)
    //
    // TODO(breaking): remove checking for manual async specification here, once we can go p3-only
    //
    if (!isManualAsync && !isAsync && funcTypeIsAsync) {
      const { promise, resolve, reject } = promiseWithResolvers();
      queueMicrotask(async () => {
        try {
          await importFn(...params);
          if (!subtask.isResolved()) {
            await task.suspendUntil({ readyFn: () => subtask.isResolved() });
          }
          resolve(subtask.getResult());
        } catch (err) {
          reject(err);
        }
      });
      return promise;
    }
    
    // NOTE: at this point we know that we are working with an async lowered import
    
    const subtaskState = subtask.getStateNumber();
    if (subtaskState < 0 || subtaskState >= 2**4) {
      throw new Error('invalid subtask state, out of valid range');
    }
    
    subtask.setOnProgressFn(() => {
      subtask.setPendingEvent(() => {
        if (subtask.isResolved()) { subtask.deliverResolve(); }
        const event = {
          code: ASYNC_EVENT_CODE.SUBTASK,
          payload0: subtask.waitableRep(),
          payload1: subtask.getStateNumber(),
        }
        return event;
      });
    });
    
    // This is a hack to maintain backwards compatibility with
    // manually-specified async imports, used in wasm exports that are
    // not actually async (but are specified as so).
    //
    // This is not normal p3 sync behavior but instead anticipating that
    // the caller that is doing manual async will be waiting for a promise that
    // resolves to the *actual* result.
    //
    // TODO(breaking): remove once manually specified async is removed
    //
    // There are a few cases:
    // 1. sync function with async types (e.g. `f: func() -> stream<u32>`)
    // 2. async function with async types (e.g. `f: async func() -> stream<u32>`)
    // 3. async function with sync types (e.g. `f: async func() -> list<u32>`)
    // 4. sync function with non-async types (e.g. `f: func() -> list<u32>`)
    //
    // This hack *only* applies to 4 -- the case where an async JS host function
    // is supplied to a Wasm export which does *not* need to do any async abi
    // lifting/lowering (async ABI did not exist when JSPI integratiton was
    // initially merged to enable asynchronously returning values from the host)
    //
    const requiresManualAsyncResult = !isAsync && !funcTypeIsAsync && isManualAsync;
    let manualAsyncResult;
    if (requiresManualAsyncResult) {
      manualAsyncResult = promiseWithResolvers();
    }
    
    queueMicrotask(async () => {
      try {
        _debugLog('[_lowerImportBackwardsCompat()] calling lowered import', { importFn, params });
        if (createdTask) { await createdTask.enter(); }
        
        const asyncRes = await importFn(...params);
        if (requiresManualAsyncResult) {
          manualAsyncResult.resolve(subtask.getResult());
        }
        
        if (createdTask) { createdTask.resolve([asyncRes]); }
        
        
      } catch (err) {
        _debugLog("[_lowerImportBackwardsCompat()] import fn error:", err);
        if (requiresManualAsyncResult) {
          manualAsyncResult.reject(err);
          return;
        }
        task.setErrored(err);
        task.reject(err);
      }
    });
    
    if (requiresManualAsyncResult) { return manualAsyncResult.promise; }
    
    _debugLog('[_lowerImportBackwardsCompat()] async-lowered import return', {
      fnName: importFn.fnName,
      componentIdx,
      subtaskID: subtask.id(),
      waitableRep: subtask.waitableRep(),
      subtaskState,
      packedResult: Number(subtask.waitableRep()) << 4 | subtaskState,
    });
    
    return Number(subtask.waitableRep()) << 4 | subtaskState;
  }
  
  const CURRENT_TASK_MAY_BLOCK= globalThis.WebAssembly ? new globalThis.WebAssembly.Global({ value: 'i32', mutable: true }, 0) : false;
  
  
  function _liftFlatU8(ctx) {
    _debugLog('[_liftFlatU8()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length === 0) { throw new Error('expected at least a single i32 argument'); }
      val = ctx.params[0];
      ctx.params = ctx.params.slice(1);
      return [val, ctx];
    }
    
    if (ctx.storageLen !== undefined && ctx.storageLen < 1) {
      throw new Error(`insufficient storage ([${ctx.storageLen}] bytes) for lift (u8 requires 1 byte)`);
    }
    
    val = new DataView(ctx.memory.buffer).getUint8(ctx.storagePtr, true);
    
    ctx.storagePtr += 1;
    if (ctx.storageLen !== undefined) { ctx.storageLen -= 1; }
    
    return [val, ctx];
  }
  
  
  function _liftFlatU16(ctx) {
    _debugLog('[_liftFlatU16()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length === 0) { throw new Error('expected at least a single i32 argument'); }
      val = ctx.params[0];
      ctx.params = ctx.params.slice(1);
      return [val, ctx];
    }
    
    if (ctx.storageLen !== undefined && ctx.storageLen < 2) {
      throw new Error(`insufficient storage ([${ctx.storageLen}] bytes) for lift (u16 requires 2 bytes)`);
    }
    
    val = new DataView(ctx.memory.buffer).getUint16(ctx.storagePtr, true);
    
    ctx.storagePtr += 2;
    if (ctx.storageLen !== undefined) { ctx.storageLen -= 2; }
    
    const rem = ctx.storagePtr % 2;
    if (rem !== 0) { ctx.storagePtr += (2 - rem); }
    
    return [val, ctx];
  }
  
  
  function _liftFlatU32(ctx) {
    _debugLog('[_liftFlatU32()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length === 0) { throw new Error('expected at least a single i34 argument'); }
      // core i32 values arrive as signed numbers
      val = ctx.params[0] >>> 0;
      ctx.params = ctx.params.slice(1);
      return [val, ctx];
    }
    
    if (ctx.storageLen !== undefined && ctx.storageLen < 4) {
      throw new Error(`insufficient storage ([${ctx.storageLen}] bytes) for lift (u32 requires 4 bytes)`);
    }
    val = new DataView(ctx.memory.buffer).getUint32(ctx.storagePtr, true);
    ctx.storagePtr += 4;
    if (ctx.storageLen !== undefined) { ctx.storageLen -= 4; }
    
    return [val, ctx];
  }
  
  
  function _liftFlatU64(ctx) {
    _debugLog('[_liftFlatU64()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length === 0) { throw new Error('expected at least one single i64 argument'); }
      if (typeof ctx.params[0] !== 'bigint') { throw new Error('expected bigint'); }
      // core i64 values arrive as signed BigInts
      val = BigInt.asUintN(64, ctx.params[0]);
      ctx.params = ctx.params.slice(1);
      return [val, ctx];
    }
    
    if (ctx.storageLen !== undefined && ctx.storageLen < 8) {
      throw new Error(`insufficient storage ([${ctx.storageLen}] bytes) for lift (u64 requires 8 bytes)`);
    }
    
    val = new DataView(ctx.memory.buffer).getBigUint64(ctx.storagePtr, true);
    ctx.storagePtr += 8;
    if (ctx.storageLen !== undefined) { ctx.storageLen -= 8; }
    
    return [val, ctx];
  }
  
  
  function _liftFlatStringUTF8(ctx) {
    _debugLog('[_liftFlatStringUTF8()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length < 2) { throw new Error('expected at least two u32 arguments'); }
      let offset = ctx.params[0];
      if (typeof offset === 'bigint') { offset = Number(offset); }
      if (!Number.isSafeInteger(offset)) { throw new Error('invalid offset'); }
      const len = ctx.params[1];
      if (!Number.isSafeInteger(len)) {  throw new Error('invalid len'); }
      val = TEXT_DECODER_UTF8.decode(new DataView(ctx.memory.buffer, offset, len));
      ctx.params = ctx.params.slice(2);
      return [val, ctx];
    }
    
    const rem = ctx.storagePtr % 4;
    if (rem !== 0) { ctx.storagePtr += (4 - rem); }
    
    const dv = new DataView(ctx.memory.buffer);
    const start = dv.getUint32(ctx.storagePtr, true);
    const codeUnits = dv.getUint32(ctx.storagePtr + 4, true);
    
    val = TEXT_DECODER_UTF8.decode(new Uint8Array(ctx.memory.buffer, start, codeUnits));
    
    ctx.storagePtr += 8;
    if (ctx.storageLen !== undefined) { ctx.storagelen -= 8; }
    
    return [val, ctx];
  }
  
  function _liftFlatStringUTF16(ctx) {
    _debugLog('[_liftFlatStringUTF16()] args', { ctx });
    let val;
    
    if (ctx.useDirectParams) {
      if (ctx.params.length < 2) { throw new Error('expected at least two u32 arguments'); }
      let offset = ctx.params[0];
      if (typeof offset === 'bigint') { offset = Number(offset); }
      if (!Number.isSafeInteger(offset)) {  throw new Error('invalid offset'); }
      const len = ctx.params[1];
      if (!Number.isSafeInteger(len)) {  throw new Error('invalid len'); }
      val = utf16Decoder.decode(new DataView(ctx.memory.buffer, offset, len));
      ctx.params = ctx.params.slice(2);
      return [val, ctx];
    }
    
    const data = new DataView(ctx.memory.buffer)
    const start = data.getUint32(ctx.storagePtr, vals[0], true);
    const codeUnits = data.getUint32(ctx.storagePtr, vals[0] + 4, true);
    val = utf16Decoder.decode(new Uint16Array(ctx.memory.buffer, start, codeUnits));
    ctx.storagePtr = ctx.storagePtr + 2 * codeUnits;
    if (ctx.storageLen !== undefined) { ctx.storageLen = ctx.storageLen - 2 * codeUnits }
    
    return [val, ctx];
  }
  
  function _liftFlatStringAny(ctx) {
    switch (ctx.stringEncoding) {
      case 'utf8':
      return _liftFlatStringUTF8(ctx);
      case 'utf16':
      return _liftFlatStringUTF16(ctx);
      default:
      throw new Error(`missing/unrecognized/unsupported string encoding [${ctx.stringEncoding}]`);
    }
  }
  
  function _liftFlatRecord(meta) {
    const { fieldMetas, size32: recordSize32, align32: recordAlign32 } = meta;
    return function _liftFlatRecordInner(ctx) {
      _debugLog('[_liftFlatRecord()] args', { ctx });
      
      const originalPtr = ctx.storagePtr;
      const res = {};
      for (const [key, liftFn, size32, align32] of fieldMetas) {
        let fieldPtr;
        if (ctx.storagePtr !== undefined) {
          const rem = ctx.storagePtr % align32;
          if (rem !== 0) { ctx.storagePtr += align32 - rem; }
          fieldPtr = ctx.storagePtr;
        }
        
        // A field occupies exactly size32 bytes of the record's
        // flat storage. Capture the remaining storage budget before
        // lifting the field and restore it afterwards: a field's own
        // lift fn may repurpose storageLen internally (e.g. a list
        // sets it to the element-buffer length while reading
        // out-of-line data and never restores it), which would
        // otherwise corrupt the budget the next field sees.
        // See https://github.com/bytecodealliance/jco/issues/1585.
        let fieldLen;
        if (ctx.storageLen !== undefined) { fieldLen = ctx.storageLen; }
        
        let [val, newCtx] = liftFn(ctx);
        res[key] = val;
        ctx = newCtx;
        
        if (fieldPtr !== undefined) {
          ctx.storagePtr = Math.max(ctx.storagePtr, fieldPtr + size32);
        }
        if (fieldLen !== undefined) {
          ctx.storageLen = fieldLen - size32;
        }
      }
      
      if (originalPtr !== undefined) {
        ctx.storagePtr = Math.max(ctx.storagePtr, originalPtr + recordSize32);
      }
      
      if (ctx.storagePtr !== undefined) {
        const rem = ctx.storagePtr % recordAlign32;
        if (rem !== 0) { ctx.storagePtr += recordAlign32 - rem; }
      }
      
      return [res, ctx];
    }
  }
  
  const _liftFlatVariantScratch = new DataView(new ArrayBuffer(8));
  
  function _liftFlatVariant(meta) {
    const {
      caseMetas,
      variantSize32,
      variantAlign32,
      variantPayloadOffset32,
      variantFlatCount,
      variantPayloadFlatTypes,
      isEnum,
    } = meta;
    
    return function _liftFlatVariantInner(ctx) {
      _debugLog('[_liftFlatVariant()] args', { ctx });
      const origUseParams = ctx.useDirectParams;
      
      let caseIdx;
      let liftRes;
      const originalPtr = ctx.storagePtr;
      const numCases =  caseMetas.length;
      if (caseMetas.length < 256) {
        liftRes = _liftFlatU8(ctx);
      } else if (numCases >= 256 && numCases < 65536) {
        liftRes = _liftFlatU16(ctx);
      } else if (numCases >= 65536 && numCases < 4_294_967_296) {
        liftRes = _liftFlatU32(ctx);
      } else {
        throw new Error(`unsupported number of variant cases [${numCases}]`);
      }
      caseIdx = liftRes[0];
      ctx = liftRes[1];
      
      const [
      tag,
      liftFn,
      caseSize32,
      caseAlign32,
      caseFlatCount,
      caseFlatTypes,
      ] = caseMetas[caseIdx];
      
      if (variantPayloadOffset32 === undefined) {
        throw new Error('unexpectedly missing payload offset');
      }
      
      if (originalPtr !== undefined) {
        ctx.storagePtr = originalPtr + variantPayloadOffset32;
      }
      
      let val;
      if (liftFn === null) {
        val = { tag };
        // NOTE: here we need to move past the entire object in memory
        // despite moving to the payload which we now know is missing/unnecessary
        if (originalPtr !== undefined) {
          ctx.storagePtr = originalPtr + variantSize32;
        }
      } else {
        // When lifting from direct params, the payload arrives as the
        // *join* of all case flat representations: each slot whose
        // joined core type differs from the selected case's core type
        // must be reinterpreted before the payload lift
        // (see CanonicalABI `lift_flat_variant`)
        if (ctx.useDirectParams) {
          if (!variantPayloadFlatTypes || !caseFlatTypes) {
            throw new Error('missing variant flat type metadata during direct-param lift');
          }
          const scratch = _liftFlatVariantScratch;
          for (let i = 0; i < caseFlatTypes.length; i++) {
            const have = variantPayloadFlatTypes[i];
            const want = caseFlatTypes[i];
            if (have === want) { continue; }
            const val = ctx.params[i];
            if (have === 'i64' && want === 'i32') {
              ctx.params[i] = Number(BigInt.asIntN(32, val));
            } else if (have === 'i64' && want === 'f32') {
              scratch.setInt32(0, Number(BigInt.asIntN(32, val)), true);
              ctx.params[i] = scratch.getFloat32(0, true);
            } else if (have === 'i64' && want === 'f64') {
              scratch.setBigInt64(0, val, true);
              ctx.params[i] = scratch.getFloat64(0, true);
            } else if (have === 'i32' && want === 'f32') {
              scratch.setInt32(0, val, true);
              ctx.params[i] = scratch.getFloat32(0, true);
            } else {
              throw new Error(`invalid variant payload coercion [${have}] -> [${want}]`);
            }
          }
        }
        
        const [newVal, newCtx] = liftFn(ctx);
        val = { tag, val: newVal };
        ctx = newCtx;
      }
      
      if (origUseParams) {
        if (variantFlatCount === undefined || variantFlatCount === null) {
          _debugLog('[_liftFlatVariant()] variant with unknown flat count', { ctx, meta });
          throw new Error('cannot lift variant with unknown flat count');
        }
        if (caseFlatCount === undefined || caseFlatCount === null) {
          _debugLog('[_liftFlatVariant()] case with unknown flat count', { ctx, meta, case: meta.caseMetas[caseIdx] });
          throw new Error('cannot lift case with unknown flat count');
        }
        // NOTE: enums can be tightly packed and do not have a descriminant
        const remainingPayloadParams = variantFlatCount - caseFlatCount - (isEnum ? 0 : 1);
        if (remainingPayloadParams < 0) {
          throw new Error(`invalid variant flat count metadata`);
        }
        if (ctx.params.length < remainingPayloadParams) {
          throw new Error(`expected at least [${remainingPayloadParams}] remaining variant payload params, but got [${ctx.params.length}]`);
        }
        ctx.params = ctx.params.slice(remainingPayloadParams);
      }
      
      if (ctx.storagePtr !== undefined) {
        const rem = ctx.storagePtr % variantAlign32;
        if (rem !== 0) { ctx.storagePtr += variantAlign32 - rem; }
      }
      
      return [val, ctx];
    }
  }
  
  function _liftFlatList(meta) {
    const { elemLiftFn, elemSize32, elemAlign32, knownLen, typedArray } = meta;
    
    const listValue =
    typedArray === undefined
    ? values => values
    : values => new typedArray(values);
    
    const readValuesAndReset = (ctx, originalPtr, originalLen, dataPtr, len) => {
      if (dataPtr % elemAlign32 !== 0) {
        throw new TypeError(`list pointer [${dataPtr}] is not aligned to ${elemAlign32}`);
      }
      ctx.storagePtr = dataPtr;
      const val = [];
      for (var i = 0; i < len; i++) {
        const elemPtr = dataPtr + i * elemSize32;
        ctx.storagePtr = elemPtr;
        const [res, nextCtx] = elemLiftFn(ctx);
        val.push(res);
        ctx = nextCtx;
        
        ctx.storagePtr = Math.max(ctx.storagePtr, elemPtr + elemSize32);
      }
      if (originalPtr !== null) { ctx.storagePtr = originalPtr; }
      if (originalLen !== null) { ctx.storageLen = originalLen; }
      return [listValue(val), ctx];
    };
    
    return function _liftFlatListInner(ctx) {
      _debugLog('[_liftFlatList()] args', { ctx });
      
      let liftResults;
      if (knownLen !== undefined) { // list with known length
      if (ctx.useDirectParams) {
        _debugLog('memory unexpectedly missing while lifting unknown length list', { ctx });
        liftResults = [listValue(ctx.params.slice(0, knownLen)), ctx];
        ctx.params = ctx.params.slice(knownLen);
      } else { // indirect params
      if (ctx.memory === null) {
        _debugLog('memory unexpectedly missing while lifting known length list', { knownLen, ctx });
        throw new Error(`memory missing while lifting known length (${knownLen}) list`);
      }
      
      const originalLen = ctx.storageLen;
      const originalPtr = ctx.storagePtr;
      
      ctx.storageLen = knownLen * elemSize32;
      liftResults = readValuesAndReset(ctx, null, originalLen, ctx.storagePtr, knownLen);
    }
    
  } else { // unknown length list
  
  if (ctx.useDirectParams) {
    // unknown length list ptr w/ direct params
    const dataPtr = ctx.params[0];
    const len = ctx.params[1];
    ctx.params = ctx.params.slice(2);
    
    ctx.useDirectParams = false;
    const originalPtr = ctx.storagePtr;
    const originalLen = ctx.storageLen;
    ctx.storageLen = len * elemSize32;
    
    liftResults = readValuesAndReset(ctx, originalPtr, originalLen, dataPtr, len);
    
    ctx.useDirectParams = true;
  } else {
    // unknown length list ptr w/ in-memory params
    const originalLen = ctx.storageLen;
    ctx.storageLen = 8;
    
    const dataPtrLiftRes = _liftFlatU32(ctx);
    const dataPtr = dataPtrLiftRes[0];
    ctx = dataPtrLiftRes[1];
    
    const lenLiftRes = _liftFlatU32(ctx);
    const len = lenLiftRes[0];
    ctx = lenLiftRes[1];
    
    const originalPtr = ctx.storagePtr;
    ctx.storagePtr = dataPtr;
    
    ctx.storageLen = len * elemSize32;
    liftResults = readValuesAndReset(ctx, originalPtr, originalLen, dataPtr, len);
  }
}

return liftResults;
}
}

function _liftFlatEnum(meta) {
  meta.isEnum = true;
  const f = _liftFlatVariant(meta);
  return function _liftFlatEnumInner(ctx) {
    _debugLog('[_liftFlatEnum()] args', { ctx });
    const res = f(ctx);
    res[0] = res[0].tag;
    return res;
  }
}

function _lowerFlatBool(ctx) {
  _debugLog('[_lowerFlatBool()] args', { ctx });
  
  if (!ctx.memory) { throw new Error("missing memory for lower"); }
  if (ctx.vals.length !== 1) {
    throw new Error(`unexpected number [${ctx.vals.length}] of vals (expected 1)`);
  }
  
  _requireValidNumericPrimitive.bind('bool', ctx.vals[0]);
  new DataView(ctx.memory.buffer).setUint8(ctx.storagePtr, ctx.vals[0] ? 1 : 0);
  
  ctx.storagePtr += 1;
}

function _lowerFlatU8(ctx) {
  _debugLog('[_lowerFlatU8()] args', ctx);
  
  if (ctx.vals.length !== 1) {
    throw new Error(`unexpected number [${ctx.vals.length}] of vals (expected 1)`);
  }
  
  _requireValidNumericPrimitive.bind('u8', ctx.vals[0]);
  
  if (!ctx.memory) { throw new Error("missing memory for lower"); }
  new DataView(ctx.memory.buffer).setUint8(ctx.storagePtr, ctx.vals[0]);
  
  ctx.storagePtr += 1;
}

function _lowerFlatU16(ctx) {
  _debugLog('[_lowerFlatU16()] args', { ctx });
  
  if (!ctx.memory) { throw new Error("missing memory for lower"); }
  if (ctx.vals.length !== 1) {
    throw new Error(`unexpected number [${ctx.vals.length}] of vals (expected 1)`);
  }
  
  const rem = ctx.storagePtr % 2;
  if (rem !== 0) { ctx.storagePtr += (2 - rem); }
  
  _requireValidNumericPrimitive.bind('u16', ctx.vals[0]);
  new DataView(ctx.memory.buffer).setUint16(ctx.storagePtr, ctx.vals[0], true);
  
  ctx.storagePtr += 2;
}

function _lowerFlatU32(ctx) {
  _debugLog('[_lowerFlatU32()] args', { ctx });
  
  if (ctx.vals.length !== 1) {
    throw new Error(`expected single value to lower, got [${ctx.vals.length}]`);
  }
  
  const rem = ctx.storagePtr % 4;
  if (rem !== 0) { ctx.storagePtr += (4 - rem); }
  
  _requireValidNumericPrimitive.bind('u32', ctx.vals[0]);
  new DataView(ctx.memory.buffer).setUint32(ctx.storagePtr, ctx.vals[0], true);
  
  ctx.storagePtr += 4;
}

function _lowerFlatS64(ctx) {
  _debugLog('[_lowerFlatS64()] args', { ctx });
  
  if (ctx.vals.length !== 1) { throw new Error('unexpected number of vals'); }
  
  const rem = ctx.storagePtr % 8;
  if (rem !== 0) { ctx.storagePtr += (8 - rem); }
  
  _requireValidNumericPrimitive.bind('s64', ctx.vals[0]);
  new DataView(ctx.memory.buffer).setBigInt64(ctx.storagePtr, ctx.vals[0], true);
  
  
  ctx.storagePtr += 8;
}

function _lowerFlatU64(ctx) {
  _debugLog('[_lowerFlatU64()] args', { ctx });
  
  if (ctx.vals.length !== 1) { throw new Error('unexpected number of vals'); }
  
  const rem = ctx.storagePtr % 8;
  if (rem !== 0) { ctx.storagePtr += (8 - rem); }
  
  _requireValidNumericPrimitive.bind('u64', ctx.vals[0]);
  new DataView(ctx.memory.buffer).setBigUint64(ctx.storagePtr, ctx.vals[0], true);
  
  ctx.storagePtr += 8;
}

function _lowerFlatStringUTF8(ctx) {
  _debugLog('[_lowerFlatStringUTF8()] args', ctx);
  if (!ctx.realloc) { throw new Error('missing realloc during flat string lower'); }
  
  const { ptr, len } = _utf8AllocateAndEncode(ctx.vals[0], ctx.realloc, ctx.memory);
  
  const view = new DataView(ctx.memory.buffer);
  view.setUint32(ctx.storagePtr, ptr, true);
  view.setUint32(ctx.storagePtr + 4, len, true);
  
  ctx.storagePtr += 8;
}

function _lowerFlatStringUTF16(ctx) {
  _debugLog('[_lowerFlatStringUTF16()] args', { ctx });
  if (!ctx.realloc) { throw new Error('missing realloc during flat string lower'); }
  
  const { ptr, len } = _utf16AllocateAndEncode(ctx.vals[0], ctx.realloc, ctx.memory);
  
  const view = new DataView(ctx.memory.buffer);
  view.setUint32(ctx.storagePtr, ptr, true);
  view.setUint32(ctx.storagePtr + 4, len, true);
  
  ctx.storagePtr += 8;
}

function _lowerFlatStringAny(ctx) {
  switch (ctx.stringEncoding) {
    case 'utf8':
    return _lowerFlatStringUTF8(ctx);
    case 'utf16':
    return _lowerFlatStringUTF16(ctx);
    default:
    throw new Error(`missing/unrecognized/unsupported string encoding [${ctx.stringEncoding}]`);
  }
}

function _lowerFlatRecord(meta) {
  const { fieldMetas, size32: recordSize32, align32: recordAlign32 } = meta;
  return function _lowerFlatRecordInner(ctx) {
    _debugLog('[_lowerFlatRecord()] args', { ctx });
    
    const originalPtr = ctx.storagePtr;
    const r = ctx.vals[0];
    for (const [tag, lowerFn, size32, align32 ] of fieldMetas) {
      const rem = ctx.storagePtr % align32;
      if (rem !== 0) { ctx.storagePtr += align32 - rem; }
      
      const fieldPtr = ctx.storagePtr;
      ctx.vals = [r[tag]];
      lowerFn(ctx);
      
      ctx.storagePtr = Math.max(ctx.storagePtr, fieldPtr + size32);
    }
    
    ctx.storagePtr = Math.max(ctx.storagePtr, originalPtr + recordSize32);
    
    const rem = ctx.storagePtr % recordAlign32;
    if (rem !== 0) {
      ctx.storagePtr += recordAlign32 - rem;
    }
  }
}

function _lowerFlatVariant(meta) {
  const { variantSize32, variantAlign32, variantPayloadOffset32, caseMetas } = meta;
  
  let caseLookup = {};
  for (const [idx, meta] of caseMetas.entries()) {
    let tag = meta[0];
    caseLookup[tag] = { discriminant: idx, meta };
  }
  
  return function _lowerFlatVariantInner(ctx) {
    _debugLog('[_lowerFlatVariant()] args', { ctx });
    
    const { tag, val } = ctx.vals[0];
    const variantCase = caseLookup[tag];
    if (!variantCase) {
      throw new Error(`missing tag [${tag}] (valid tags: ${Object.keys(caseLookup)})`);
    }
    
    const [ _tag, lowerFn, caseSize32, caseAlign32, caseFlatCount ] = variantCase.meta;
    
    const originalPtr = ctx.storagePtr;
    ctx.vals = [variantCase.discriminant];
    let discLowerRes;
    if (caseMetas.length < 256) {
      discLowerRes = _lowerFlatU8(ctx);
    } else if (caseMetas.length >= 256 && caseMetas.length < 65536) {
      discLowerRes = _lowerFlatU16(ctx);
    } else if (caseMetas.length >= 65536 && caseMetas.length < 4_294_967_296) {
      discLowerRes = _lowerFlatU32(ctx);
    } else {
      throw new Error(`unsupported number of cases [${caseMetas.length}]`);
    }
    
    const payloadOffsetPtr = originalPtr + variantPayloadOffset32;
    ctx.storagePtr = payloadOffsetPtr;
    ctx.vals = [val];
    if (lowerFn) { lowerFn(ctx); }
    
    ctx.storagePtr = Math.max(ctx.storagePtr, originalPtr + variantSize32);
    
    const rem = ctx.storagePtr % variantAlign32;
    if (rem !== 0) { ctx.storagePtr += variantAlign32 - rem; }
  }
}

function _lowerFlatList(meta) {
  const {
    elemLowerFn,
    knownLen,
    size32,
    align32,
    elemSize32,
    elemAlign32,
  } = meta;
  
  if (!elemLowerFn) { throw new TypeError("missing/invalid element lower fn for list"); }
  
  return function _lowerFlatListInner(ctx) {
    _debugLog('[_lowerFlatList()] args', { ctx });
    
    if (ctx.useDirectParams) {
      if (ctx.params.length < 2) { throw new Error('insufficient params left to lower list'); }
      const storagePtr = ctx.params[0];
      const elemCount = ctx.params[1];
      ctx.params = ctx.params.slice(2);
      
      const list = ctx.vals[0];
      if (!list) { throw new Error("missing direct param value"); }
      
      const lowerCtx = {
        storagePtr,
        memory: ctx.memory,
        stringEncoding: ctx.stringEncoding,
      };
      for (let idx = 0; idx < list.length; idx++) {
        const elemPtr = storagePtr + idx * elemSize32;
        lowerCtx.storagePtr = elemPtr;
        lowerCtx.vals = list.slice(idx, idx+1);
        elemLowerFn(lowerCtx);
        lowerCtx.storagePtr = Math.max(lowerCtx.storagePtr, elemPtr + elemSize32);
      }
      ctx.storagePtr = lowerCtx.storagePtr;
      
      // TODO: implement parma-only known-length processing
      
      return;
    }
    
    // TODO(fix): is it possible to get a vals that are a addr and length here from
    // a component lower?
    
    const elems = ctx.vals[0];
    if (knownLen === undefined) {
      // unknown length
      if (!ctx.realloc) { throw new Error('missing realloc during flat string lower'); }
      const dataPtr = ctx.realloc(0, 0, elemAlign32, elemSize32 * elems.length);
      
      ctx.vals[0] = dataPtr;
      _lowerFlatU32(ctx);
      
      ctx.vals[0] = elems.length;
      _lowerFlatU32(ctx);
      
      const origPtr = ctx.storagePtr;
      ctx.storagePtr = dataPtr;
      
      for (const [idx, elem] of elems.entries()) {
        const elemPtr = dataPtr + idx * elemSize32;
        ctx.storagePtr = elemPtr;
        ctx.vals = [elem];
        elemLowerFn(ctx);
        ctx.storagePtr = Math.max(ctx.storagePtr, elemPtr + elemSize32);
      }
      
      ctx.storagePtr = origPtr;
      
    } else {
      // known length
      
      if (elems.length !== knownLen) {
        throw new TypeError(`invalid list input of length [${elems.length}], must be length [${knownLen}]`);
      }
      
      const originalPtr = ctx.storagePtr;
      for (const [idx, elem] of elems.entries()) {
        const elemPtr = originalPtr + idx * elemSize32;
        ctx.storagePtr = elemPtr;
        ctx.vals = [elem];
        elemLowerFn(ctx);
        ctx.storagePtr = Math.max(ctx.storagePtr, elemPtr + elemSize32);
      }
    }
    
    // TODO(fix): special case for u8/u16/etc, we can do a direct copy
    
    const totalSizeBytes = elems.length * size32;
    if (ctx.storageLen !== undefined && totalSizeBytes > ctx.storageLen) {
      throw new Error('not enough storage remaining for list flat lower');
    }
  }
}

function _lowerFlatEnum(meta) {
  const f = _lowerFlatVariant(meta);
  return function _lowerFlatEnumInner(ctx) {
    _debugLog('[_lowerFlatEnum()] args', { ctx });
    
    const v = ctx.vals[0];
    const isNotEnumObject = typeof v !== 'object'
    || Object.keys(v).length !== 2
    || !('tag' in v);
    if (isNotEnumObject) {
      ctx.vals[0] = { tag: v };
    }
    
    f(ctx);
  }
}

function _lowerFlatOption(meta) {
  const { payloadMaybeNull } = meta;
  const f = _lowerFlatVariant(meta);
  return function _lowerFlatOptionInner(ctx) {
    _debugLog('[_lowerFlatOption()] args', { ctx });
    
    const v = ctx.vals[0];
    if (v === null || v === undefined) {
      ctx.vals[0] = { tag: 'none' };
    } else if (payloadMaybeNull) {
      const isNotOptionObject = typeof v !== 'object'
      || Object.keys(v).length !== 2
      || !('tag' in v)
      || !(v.tag === 'some' || v.tag === 'none')
      || !('val' in v);
      if (isNotOptionObject) {
        ctx.vals[0] = { tag: 'some', val: v };
      }
    } else {
      ctx.vals[0] = { tag: 'some', val: v };
    }
    
    f(ctx);
  }
}

function _lowerFlatResult(meta) {
  const f = _lowerFlatVariant(meta);
  return function _lowerFlatResultInner(ctx) {
    _debugLog('[_lowerFlatResult()] args', { ctx });
    
    const v = ctx.vals[0];
    const isNotResultObject = typeof v !== 'object'
    || Object.keys(v).length !== 2
    || !('tag' in v)
    || !('ok' === v.tag || 'err' === v.tag)
    || !('val' in v);
    if (isNotResultObject) {
      ctx.vals[0] = { tag: 'ok', val: v };
    }
    
    f(ctx);
  };
}

function _trackHostOperation(operation) {
  const result = operation();
  if (result === null ||
  (typeof result !== 'object' && typeof result !== 'function') ||
  typeof result.then !== 'function') {
    return result;
  }
  
  STORE_ASYNC_STATE.pendingHostOperations++;
  return Promise.resolve(result).finally(() => {
    STORE_ASYNC_STATE.pendingHostOperations--;
    if (STORE_ASYNC_STATE.pendingHostOperations < 0) {
      throw new Error('negative pending host operation count');
    }
    for (const state of ASYNC_STATE.values()) { state.runTickLoop(); }
    _checkForDeadlock();
  });
}

const isNode = typeof process !== 'undefined' && process.versions && process.versions.node;
let _fs;
async function fetchCompile (url) {
  if (isNode) {
    _fs = _fs || await import('node:fs/promises');
    return WebAssembly.compile(await _fs.readFile(url));
  }
  return fetch(url).then(WebAssembly.compileStreaming);
}

class ComponentError extends Error {
  constructor (value) {
    const enumerable = typeof value !== 'string';
    super(enumerable ? `${String(value)} (see error.payload)` : value);
    Object.defineProperty(this, 'payload', { value, enumerable });
  }
}

const hasOwnProperty = Object.prototype.hasOwnProperty;

function getErrorPayload(e) {
  if (e && hasOwnProperty.call(e, 'payload')) return e.payload;
  if (e instanceof Error) throw e;
  return e;
}

function throwInvalidBool() {
  throw new TypeError('invalid variant discriminant for bool');
}

function _suspendingImport(componentIdx, fn, syncOnly = false, switchesTask = false) {
  return function (...args) {
    _checkMayLeave(componentIdx);
    const saved = CURRENT_TASK_META[componentIdx] ?? null;
    
    const savedTask = saved
    ? getCurrentTask(saved.componentIdx, saved.taskID)?.task
    : null;
    const mayBlock = savedTask
    ? (savedTask?.mayBlock() ?? (CURRENT_TASK_MAY_BLOCK.value !== 0))
    : false;
    if (!saved && !mayBlock) {
      throw new WebAssemblyRuntimeError('cannot block a synchronous task before returning');
    }
    
    if (syncOnly || !mayBlock) {
      let result;
      try {
        result = fn.apply(null, args);
      } catch (err) {
        CURRENT_TASK_META[componentIdx] = saved;
        if (!switchesTask) { CURRENT_TASK_META.current = saved; }
        throw err;
      }
      
      CURRENT_TASK_META[componentIdx] = saved;
      if (!switchesTask) { CURRENT_TASK_META.current = saved; }
      
      if (result !== null &&
      (typeof result === 'object' || typeof result === 'function') &&
      typeof result.then === 'function') {
        // The helper may already have returned a rejected promise.
        // Mark it handled before replacing it with the canonical
        // synchronous-task trap.
        Promise.resolve(result).catch(() => {});
        throw new WebAssemblyRuntimeError('cannot block a synchronous task before returning');
      }
      return result;
    }
    
    return (async () => {
      try {
        return await fn.apply(null, args);
      } finally {
        CURRENT_TASK_META[componentIdx] = saved;
        if (!switchesTask) { CURRENT_TASK_META.current = saved; }
      }
    })();
  };
}


if (!getCoreModule) getCoreModule = (name) => fetchCompile(new URL(`./${name}`, import.meta.url));
const module0 = getCoreModule('holds.core.wasm');
const module1 = getCoreModule('holds.core2.wasm');
const module2 = getCoreModule('holds.core3.wasm');

const { now, pause } = imports['holds:core/clock'];

if (now=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'now', was 'now' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (pause=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'pause', was 'pause' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}

const { inspect, readLinkFile } = imports['holds:core/fs'];

if (inspect=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'inspect', was 'inspect' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (readLinkFile=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'readLinkFile', was 'readLinkFile' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}

const { deleteIfRevision, get, getMany, scan, writeBatch, writeIfRevision } = imports['holds:core/kv'];

if (deleteIfRevision=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'deleteIfRevision', was 'deleteIfRevision' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (get=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'get', was 'get' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (getMany=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'getMany', was 'getMany' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (scan=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'scan', was 'scan' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (writeBatch=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'writeBatch', was 'writeBatch' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}


if (writeIfRevision=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'writeIfRevision', was 'writeIfRevision' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}

const { casRetry } = imports['holds:core/observer'];

if (casRetry=== undefined) {
  const err = new Error("unexpectedly undefined instance import 'casRetry', was 'casRetry' available at instantiation?");
  console.error("ERROR:", err.toString());
  throw err;
}

let gen= (function* _initGenerator () {
  const instanceFlags0 = new WebAssembly.Global({ value: "i32", mutable: true }, 1);
  INSTANCE_FLAGS.set(0, instanceFlags0);
  let exports0;
  
  const _trampoline0 = function() {
    _debugLog('[iface="holds:core/clock@0.3.0", function="now"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'now',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'none',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    
    try {
      ret = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => now()),
      })
      ;
    } catch (err) {
      
      _debugLog('[Instruction::CallInterface] error during sync call', {
        taskID: task.id(),
        subtaskID: task.getParentSubtask()?.id(),
        err,
      });
      getOrCreateAsyncState(0).markTrapped(err);
      task.setErrored(err);
      task.reject(err);
      task.exit();
      throw err;
      
    }
    
    _debugLog('[iface="holds:core/clock@0.3.0", function="now"][Instruction::Return]', {
      funcName: 'now',
      paramCount: 1,
      async: false,
      postReturn: false
    });
    task.resolve([toInt64(ret)]);
    task.exit();
    return toInt64(ret);
  }
  _trampoline0.fnName = 'holds:core/clock@0.3.0#now';
  
  const _trampoline1 = function(arg0) {
    _debugLog('[iface="holds:core/clock@0.3.0", function="pause"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'pause',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'none',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    
    try {
      ret = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => pause(BigInt.asUintN(64, BigInt(arg0)))),
      })
      ;
    } catch (err) {
      
      _debugLog('[Instruction::CallInterface] error during sync call', {
        taskID: task.id(),
        subtaskID: task.getParentSubtask()?.id(),
        err,
      });
      getOrCreateAsyncState(0).markTrapped(err);
      task.setErrored(err);
      task.reject(err);
      task.exit();
      throw err;
      
    }
    
    _debugLog('[iface="holds:core/clock@0.3.0", function="pause"][Instruction::Return]', {
      funcName: 'pause',
      paramCount: 1,
      async: false,
      postReturn: false
    });
    task.resolve([ret ? 1 : 0]);
    task.exit();
    return ret ? 1 : 0;
  }
  _trampoline1.fnName = 'holds:core/clock@0.3.0#pause';
  let exports1;
  let memory0;
  let realloc0;
  let realloc0Async;
  
  const _trampoline2 = function(arg0, arg1, arg2) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    _debugLog('[iface="holds:core/fs@0.3.0", function="read-link-file"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'readLinkFile',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'none',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    
    try {
      ret = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => readLinkFile(result0)),
      })
      ;
    } catch (err) {
      
      _debugLog('[Instruction::CallInterface] error during sync call', {
        taskID: task.id(),
        subtaskID: task.getParentSubtask()?.id(),
        err,
      });
      getOrCreateAsyncState(0).markTrapped(err);
      task.setErrored(err);
      task.reject(err);
      task.exit();
      throw err;
      
    }
    
    var variant2 = ret;
    if (variant2 === null || variant2=== undefined) {
      dataView(memory0).setInt8(arg2 + 0, 0, true);
    } else {
      const e = variant2;
      dataView(memory0).setInt8(arg2 + 0, 1, true);
      
      var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
      var ptr1= encodeRes.ptr;
      var len1 = encodeRes.len;
      
      dataView(memory0).setUint32(arg2 + 8, len1, true);
      dataView(memory0).setUint32(arg2 + 4, ptr1, true);
    }
    _debugLog('[iface="holds:core/fs@0.3.0", function="read-link-file"][Instruction::Return]', {
      funcName: 'read-link-file',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline2.fnName = 'holds:core/fs@0.3.0#readLinkFile';
  
  const _trampoline3 = function(arg0, arg1, arg2) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    _debugLog('[iface="holds:core/fs@0.3.0", function="inspect"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'inspect',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'none',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    
    try {
      ret = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => inspect(result0)),
      })
      ;
    } catch (err) {
      
      _debugLog('[Instruction::CallInterface] error during sync call', {
        taskID: task.id(),
        subtaskID: task.getParentSubtask()?.id(),
        err,
      });
      getOrCreateAsyncState(0).markTrapped(err);
      task.setErrored(err);
      task.reject(err);
      task.exit();
      throw err;
      
    }
    
    var variant2 = ret;
    switch (variant2.tag) {
      case 'missing': {
        dataView(memory0).setInt8(arg2 + 0, 0, true);
        break;
      }
      case 'directory': {
        dataView(memory0).setInt8(arg2 + 0, 1, true);
        break;
      }
      case 'file': {
        dataView(memory0).setInt8(arg2 + 0, 2, true);
        break;
      }
      case 'symlink': {
        const e = variant2.val;
        dataView(memory0).setInt8(arg2 + 0, 3, true);
        
        var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
        var ptr1= encodeRes.ptr;
        var len1 = encodeRes.len;
        
        dataView(memory0).setUint32(arg2 + 8, len1, true);
        dataView(memory0).setUint32(arg2 + 4, ptr1, true);
        break;
      }
      case 'other': {
        dataView(memory0).setInt8(arg2 + 0, 4, true);
        break;
      }
      default: {
        throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant2.tag)}\` (received \`${variant2}\`) specified for \`Node\``);
      }
    }
    _debugLog('[iface="holds:core/fs@0.3.0", function="inspect"][Instruction::Return]', {
      funcName: 'inspect',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline3.fnName = 'holds:core/fs@0.3.0#inspect';
  
  const _trampoline4 = function(arg0, arg1, arg2) {
    var len2 = arg1;
    var base2 = arg0;
    if (base2 % 8 !== 0) throw new TypeError(`list pointer [${base2}] is not aligned to 8`);
    var result2 = [];
    for (let i = 0; i < len2; i++) {
      const base = base2 + i * 32;
      var ptr0 = dataView(memory0).getUint32(base + 0, true);
      var len0 = dataView(memory0).getUint32(base + 4, true);
      var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
      var ptr1 = dataView(memory0).getUint32(base + 8, true);
      var len1 = dataView(memory0).getUint32(base + 12, true);
      if (ptr1 % 1 !== 0) throw new TypeError(`list pointer [${ptr1}] is not aligned to 1`);
      var result1 = new Uint8Array(memory0.buffer.slice(ptr1, ptr1 + len1 * 1));
      result2.push({
        key: result0,
        value: result1,
        expected: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 16, true))),
        ttlSeconds: dataView(memory0).getInt32(base + 24, true) >>> 0,
      });
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="write-batch"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'writeBatch',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet3 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => writeBatch(result2)),
      })
      ;
      ret = hostRet3 !== null && typeof hostRet3 === 'object' && (hostRet3.tag === 'ok' || hostRet3.tag === 'err')
      ? hostRet3
      : { tag: 'ok', val: hostRet3};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant10 = ret;
    switch (variant10.tag) {
      case 'ok': {
        const e = variant10.val;
        dataView(memory0).setInt8(arg2 + 0, 0, true);
        var val4 = e;
        var len4 = val4.length;
        var ptr4 = realloc0(0, 0, 8, len4 * 8);
        
        let valData4;
        const valLenBytes4 = len4 * 8;
        if (Array.isArray(val4)) {
          // Regular array likely containing numbers, write values to memory
          let offset = 0;
          const dv4 = new DataView(memory0.buffer);
          for (const v of val4) {
            _requireValidNumericPrimitive.bind(null, 'u64')(v);
            dv4.setBigUint64(ptr4+ offset, v, true);
            offset += 8;
          }
        } else {
          // TypedArray / ArrayBuffer-like, direct copy
          valData4 = new Uint8Array(val4.buffer || val4, val4.byteOffset, valLenBytes4);
          const out4 = new Uint8Array(memory0.buffer, ptr4, valLenBytes4);
          out4.set(valData4);
        }
        
        dataView(memory0).setUint32(arg2 + 8, len4, true);
        dataView(memory0).setUint32(arg2 + 4, ptr4, true);
        
        break;
      }
      case 'err': {
        const e = variant10.val;
        dataView(memory0).setInt8(arg2 + 0, 1, true);
        var variant9 = e;
        switch (variant9.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg2 + 4, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant9.val;
            dataView(memory0).setInt8(arg2 + 4, 1, true);
            var {why: v5_0, detail: v5_1 } = e;
            var val6 = v5_0;
            let enum6;
            switch (val6) {
              case 'busy': {
                enum6 = 0;
                break;
              }
              case 'leader-changing': {
                enum6 = 1;
                break;
              }
              case 'no-stream': {
                enum6 = 2;
                break;
              }
              default: {
                if ((v5_0) instanceof Error) {
                  console.error(v5_0);
                }
                
                throw new TypeError(`"${val6}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg2 + 8, enum6, true);
            
            var encodeRes = _utf8AllocateAndEncode(v5_1, realloc0, memory0);
            var ptr7= encodeRes.ptr;
            var len7 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 16, len7, true);
            dataView(memory0).setUint32(arg2 + 12, ptr7, true);
            break;
          }
          case 'unavailable': {
            const e = variant9.val;
            dataView(memory0).setInt8(arg2 + 4, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr8= encodeRes.ptr;
            var len8 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 12, len8, true);
            dataView(memory0).setUint32(arg2 + 8, ptr8, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg2 + 4, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant9.tag)}\` (received \`${variant9}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant10, valueType: typeof variant10});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="write-batch"][Instruction::Return]', {
      funcName: 'write-batch',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline4.fnName = 'holds:core/kv@0.3.0#writeBatch';
  
  const _trampoline5 = function(arg0, arg1, arg2, arg3, arg4, arg5, arg6) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    var ptr1 = arg2;
    var len1 = arg3;
    if (ptr1 % 1 !== 0) throw new TypeError(`list pointer [${ptr1}] is not aligned to 1`);
    var result1 = new Uint8Array(memory0.buffer.slice(ptr1, ptr1 + len1 * 1));
    _debugLog('[iface="holds:core/kv@0.3.0", function="write-if-revision"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'writeIfRevision',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet2 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => writeIfRevision(result0, result1, BigInt.asUintN(64, BigInt(arg4)), arg5 >>> 0)),
      })
      ;
      ret = hostRet2 !== null && typeof hostRet2 === 'object' && (hostRet2.tag === 'ok' || hostRet2.tag === 'err')
      ? hostRet2
      : { tag: 'ok', val: hostRet2};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant8 = ret;
    switch (variant8.tag) {
      case 'ok': {
        const e = variant8.val;
        dataView(memory0).setInt8(arg6 + 0, 0, true);
        dataView(memory0).setBigInt64(arg6 + 8, toUint64(e), true);
        
        break;
      }
      case 'err': {
        const e = variant8.val;
        dataView(memory0).setInt8(arg6 + 0, 1, true);
        var variant7 = e;
        switch (variant7.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg6 + 8, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant7.val;
            dataView(memory0).setInt8(arg6 + 8, 1, true);
            var {why: v3_0, detail: v3_1 } = e;
            var val4 = v3_0;
            let enum4;
            switch (val4) {
              case 'busy': {
                enum4 = 0;
                break;
              }
              case 'leader-changing': {
                enum4 = 1;
                break;
              }
              case 'no-stream': {
                enum4 = 2;
                break;
              }
              default: {
                if ((v3_0) instanceof Error) {
                  console.error(v3_0);
                }
                
                throw new TypeError(`"${val4}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg6 + 12, enum4, true);
            
            var encodeRes = _utf8AllocateAndEncode(v3_1, realloc0, memory0);
            var ptr5= encodeRes.ptr;
            var len5 = encodeRes.len;
            
            dataView(memory0).setUint32(arg6 + 20, len5, true);
            dataView(memory0).setUint32(arg6 + 16, ptr5, true);
            break;
          }
          case 'unavailable': {
            const e = variant7.val;
            dataView(memory0).setInt8(arg6 + 8, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr6= encodeRes.ptr;
            var len6 = encodeRes.len;
            
            dataView(memory0).setUint32(arg6 + 16, len6, true);
            dataView(memory0).setUint32(arg6 + 12, ptr6, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg6 + 8, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant7.tag)}\` (received \`${variant7}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant8, valueType: typeof variant8});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="write-if-revision"][Instruction::Return]', {
      funcName: 'write-if-revision',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline5.fnName = 'holds:core/kv@0.3.0#writeIfRevision';
  
  const _trampoline6 = function(arg0, arg1, arg2, arg3, arg4, arg5, arg6) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    let enum1;
    switch (arg3) {
      case 0: {
        enum1 = 'released';
        break;
      }
      case 1: {
        enum1 = 'expired';
        break;
      }
      default: {
        throw new TypeError('invalid discriminant specified for Removal');
      }
    }
    var ptr2 = arg4;
    var len2 = arg5;
    if (ptr2 % 1 !== 0) throw new TypeError(`list pointer [${ptr2}] is not aligned to 1`);
    var result2 = new Uint8Array(memory0.buffer.slice(ptr2, ptr2 + len2 * 1));
    _debugLog('[iface="holds:core/kv@0.3.0", function="delete-if-revision"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'deleteIfRevision',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet3 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => deleteIfRevision(result0, BigInt.asUintN(64, BigInt(arg2)), enum1, result2)),
      })
      ;
      ret = hostRet3 !== null && typeof hostRet3 === 'object' && (hostRet3.tag === 'ok' || hostRet3.tag === 'err')
      ? hostRet3
      : { tag: 'ok', val: hostRet3};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant9 = ret;
    switch (variant9.tag) {
      case 'ok': {
        const e = variant9.val;
        dataView(memory0).setInt8(arg6 + 0, 0, true);
        dataView(memory0).setBigInt64(arg6 + 8, toUint64(e), true);
        
        break;
      }
      case 'err': {
        const e = variant9.val;
        dataView(memory0).setInt8(arg6 + 0, 1, true);
        var variant8 = e;
        switch (variant8.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg6 + 8, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant8.val;
            dataView(memory0).setInt8(arg6 + 8, 1, true);
            var {why: v4_0, detail: v4_1 } = e;
            var val5 = v4_0;
            let enum5;
            switch (val5) {
              case 'busy': {
                enum5 = 0;
                break;
              }
              case 'leader-changing': {
                enum5 = 1;
                break;
              }
              case 'no-stream': {
                enum5 = 2;
                break;
              }
              default: {
                if ((v4_0) instanceof Error) {
                  console.error(v4_0);
                }
                
                throw new TypeError(`"${val5}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg6 + 12, enum5, true);
            
            var encodeRes = _utf8AllocateAndEncode(v4_1, realloc0, memory0);
            var ptr6= encodeRes.ptr;
            var len6 = encodeRes.len;
            
            dataView(memory0).setUint32(arg6 + 20, len6, true);
            dataView(memory0).setUint32(arg6 + 16, ptr6, true);
            break;
          }
          case 'unavailable': {
            const e = variant8.val;
            dataView(memory0).setInt8(arg6 + 8, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr7= encodeRes.ptr;
            var len7 = encodeRes.len;
            
            dataView(memory0).setUint32(arg6 + 16, len7, true);
            dataView(memory0).setUint32(arg6 + 12, ptr7, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg6 + 8, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant8.tag)}\` (received \`${variant8}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant9, valueType: typeof variant9});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="delete-if-revision"][Instruction::Return]', {
      funcName: 'delete-if-revision',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline6.fnName = 'holds:core/kv@0.3.0#deleteIfRevision';
  
  const _trampoline7 = function(arg0, arg1, arg2) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    _debugLog('[iface="holds:core/kv@0.3.0", function="get"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'get',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet1 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => get(result0)),
      })
      ;
      ret = hostRet1 !== null && typeof hostRet1 === 'object' && (hostRet1.tag === 'ok' || hostRet1.tag === 'err')
      ? hostRet1
      : { tag: 'ok', val: hostRet1};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant10 = ret;
    switch (variant10.tag) {
      case 'ok': {
        const e = variant10.val;
        dataView(memory0).setInt8(arg2 + 0, 0, true);
        var {found: v2_0, value: v2_1, revision: v2_2, operation: v2_3 } = e;
        dataView(memory0).setInt8(arg2 + 8, v2_0 ? 1 : 0, true);
        var val3 = v2_1;
        var len3 = Array.isArray(val3) ? val3.length : val3.byteLength;
        var ptr3 = realloc0(0, 0, 1, len3 * 1);
        
        let valData3;
        const valLenBytes3 = len3 * 1;
        if (Array.isArray(val3)) {
          // Regular array likely containing numbers, write values to memory
          let offset = 0;
          const dv3 = new DataView(memory0.buffer);
          for (const v of val3) {
            _requireValidNumericPrimitive.bind(null, 'u8')(v);
            dv3.setUint8(ptr3+ offset, v, true);
            offset += 1;
          }
        } else {
          // TypedArray / ArrayBuffer-like, direct copy
          valData3 = new Uint8Array(val3.buffer || val3, val3.byteOffset, valLenBytes3);
          const out3 = new Uint8Array(memory0.buffer, ptr3, valLenBytes3);
          out3.set(valData3);
        }
        
        dataView(memory0).setUint32(arg2 + 16, len3, true);
        dataView(memory0).setUint32(arg2 + 12, ptr3, true);
        dataView(memory0).setBigInt64(arg2 + 24, toUint64(v2_2), true);
        var val4 = v2_3;
        let enum4;
        switch (val4) {
          case 'put': {
            enum4 = 0;
            break;
          }
          case 'delete': {
            enum4 = 1;
            break;
          }
          case 'purge': {
            enum4 = 2;
            break;
          }
          case 'expire': {
            enum4 = 3;
            break;
          }
          default: {
            if ((v2_3) instanceof Error) {
              console.error(v2_3);
            }
            
            throw new TypeError(`"${val4}" is not one of the cases of operation`);
          }
        }
        dataView(memory0).setInt8(arg2 + 32, enum4, true);
        
        break;
      }
      case 'err': {
        const e = variant10.val;
        dataView(memory0).setInt8(arg2 + 0, 1, true);
        var variant9 = e;
        switch (variant9.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg2 + 8, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant9.val;
            dataView(memory0).setInt8(arg2 + 8, 1, true);
            var {why: v5_0, detail: v5_1 } = e;
            var val6 = v5_0;
            let enum6;
            switch (val6) {
              case 'busy': {
                enum6 = 0;
                break;
              }
              case 'leader-changing': {
                enum6 = 1;
                break;
              }
              case 'no-stream': {
                enum6 = 2;
                break;
              }
              default: {
                if ((v5_0) instanceof Error) {
                  console.error(v5_0);
                }
                
                throw new TypeError(`"${val6}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg2 + 12, enum6, true);
            
            var encodeRes = _utf8AllocateAndEncode(v5_1, realloc0, memory0);
            var ptr7= encodeRes.ptr;
            var len7 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 20, len7, true);
            dataView(memory0).setUint32(arg2 + 16, ptr7, true);
            break;
          }
          case 'unavailable': {
            const e = variant9.val;
            dataView(memory0).setInt8(arg2 + 8, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr8= encodeRes.ptr;
            var len8 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 16, len8, true);
            dataView(memory0).setUint32(arg2 + 12, ptr8, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg2 + 8, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant9.tag)}\` (received \`${variant9}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant10, valueType: typeof variant10});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="get"][Instruction::Return]', {
      funcName: 'get',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline7.fnName = 'holds:core/kv@0.3.0#get';
  
  const _trampoline8 = function(arg0, arg1, arg2, arg3) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    _debugLog('[iface="holds:core/kv@0.3.0", function="scan"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'scan',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet1 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => scan(result0, BigInt.asUintN(64, BigInt(arg2)))),
      })
      ;
      ret = hostRet1 !== null && typeof hostRet1 === 'object' && (hostRet1.tag === 'ok' || hostRet1.tag === 'err')
      ? hostRet1
      : { tag: 'ok', val: hostRet1};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant13 = ret;
    switch (variant13.tag) {
      case 'ok': {
        const e = variant13.val;
        dataView(memory0).setInt8(arg3 + 0, 0, true);
        var vec7 = e;
        var len7 = vec7.length;
        var result7 = realloc0(0, 0, 8, len7 * 40);
        for (let i = 0; i < vec7.length; i++) {
          const e = vec7[i];
          const base = result7 + i * 40;var {key: v2_0, entry: v2_1 } = e;
          
          var encodeRes = _utf8AllocateAndEncode(v2_0, realloc0, memory0);
          var ptr3= encodeRes.ptr;
          var len3 = encodeRes.len;
          
          dataView(memory0).setUint32(base + 4, len3, true);
          dataView(memory0).setUint32(base + 0, ptr3, true);
          var {found: v4_0, value: v4_1, revision: v4_2, operation: v4_3 } = v2_1;
          dataView(memory0).setInt8(base + 8, v4_0 ? 1 : 0, true);
          var val5 = v4_1;
          var len5 = Array.isArray(val5) ? val5.length : val5.byteLength;
          var ptr5 = realloc0(0, 0, 1, len5 * 1);
          
          let valData5;
          const valLenBytes5 = len5 * 1;
          if (Array.isArray(val5)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv5 = new DataView(memory0.buffer);
            for (const v of val5) {
              _requireValidNumericPrimitive.bind(null, 'u8')(v);
              dv5.setUint8(ptr5+ offset, v, true);
              offset += 1;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData5 = new Uint8Array(val5.buffer || val5, val5.byteOffset, valLenBytes5);
            const out5 = new Uint8Array(memory0.buffer, ptr5, valLenBytes5);
            out5.set(valData5);
          }
          
          dataView(memory0).setUint32(base + 16, len5, true);
          dataView(memory0).setUint32(base + 12, ptr5, true);
          dataView(memory0).setBigInt64(base + 24, toUint64(v4_2), true);
          var val6 = v4_3;
          let enum6;
          switch (val6) {
            case 'put': {
              enum6 = 0;
              break;
            }
            case 'delete': {
              enum6 = 1;
              break;
            }
            case 'purge': {
              enum6 = 2;
              break;
            }
            case 'expire': {
              enum6 = 3;
              break;
            }
            default: {
              if ((v4_3) instanceof Error) {
                console.error(v4_3);
              }
              
              throw new TypeError(`"${val6}" is not one of the cases of operation`);
            }
          }
          dataView(memory0).setInt8(base + 32, enum6, true);
        }
        dataView(memory0).setUint32(arg3 + 8, len7, true);
        dataView(memory0).setUint32(arg3 + 4, result7, true);
        
        break;
      }
      case 'err': {
        const e = variant13.val;
        dataView(memory0).setInt8(arg3 + 0, 1, true);
        var variant12 = e;
        switch (variant12.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg3 + 4, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant12.val;
            dataView(memory0).setInt8(arg3 + 4, 1, true);
            var {why: v8_0, detail: v8_1 } = e;
            var val9 = v8_0;
            let enum9;
            switch (val9) {
              case 'busy': {
                enum9 = 0;
                break;
              }
              case 'leader-changing': {
                enum9 = 1;
                break;
              }
              case 'no-stream': {
                enum9 = 2;
                break;
              }
              default: {
                if ((v8_0) instanceof Error) {
                  console.error(v8_0);
                }
                
                throw new TypeError(`"${val9}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg3 + 8, enum9, true);
            
            var encodeRes = _utf8AllocateAndEncode(v8_1, realloc0, memory0);
            var ptr10= encodeRes.ptr;
            var len10 = encodeRes.len;
            
            dataView(memory0).setUint32(arg3 + 16, len10, true);
            dataView(memory0).setUint32(arg3 + 12, ptr10, true);
            break;
          }
          case 'unavailable': {
            const e = variant12.val;
            dataView(memory0).setInt8(arg3 + 4, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr11= encodeRes.ptr;
            var len11 = encodeRes.len;
            
            dataView(memory0).setUint32(arg3 + 12, len11, true);
            dataView(memory0).setUint32(arg3 + 8, ptr11, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg3 + 4, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant12.tag)}\` (received \`${variant12}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant13, valueType: typeof variant13});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="scan"][Instruction::Return]', {
      funcName: 'scan',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline8.fnName = 'holds:core/kv@0.3.0#scan';
  
  const _trampoline9 = function(arg0, arg1, arg2) {
    var len1 = arg1;
    var base1 = arg0;
    if (base1 % 4 !== 0) throw new TypeError(`list pointer [${base1}] is not aligned to 4`);
    var result1 = [];
    for (let i = 0; i < len1; i++) {
      const base = base1 + i * 8;
      var ptr0 = dataView(memory0).getUint32(base + 0, true);
      var len0 = dataView(memory0).getUint32(base + 4, true);
      var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
      result1.push(result0);
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="get-many"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'getMany',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'result-catch-handler',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    try {
      const hostRet2 = _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => getMany(result1)),
      })
      ;
      ret = hostRet2 !== null && typeof hostRet2 === 'object' && (hostRet2.tag === 'ok' || hostRet2.tag === 'err')
      ? hostRet2
      : { tag: 'ok', val: hostRet2};
    } catch (e) {
      if (getOrCreateAsyncState(0).markTrapped(e)) { throw e; }
      ret = { tag: 'err', val: getErrorPayload(e) };
    }
    
    var variant12 = ret;
    switch (variant12.tag) {
      case 'ok': {
        const e = variant12.val;
        dataView(memory0).setInt8(arg2 + 0, 0, true);
        var vec6 = e;
        var len6 = vec6.length;
        var result6 = realloc0(0, 0, 8, len6 * 32);
        for (let i = 0; i < vec6.length; i++) {
          const e = vec6[i];
          const base = result6 + i * 32;var {found: v3_0, value: v3_1, revision: v3_2, operation: v3_3 } = e;
          dataView(memory0).setInt8(base + 0, v3_0 ? 1 : 0, true);
          var val4 = v3_1;
          var len4 = Array.isArray(val4) ? val4.length : val4.byteLength;
          var ptr4 = realloc0(0, 0, 1, len4 * 1);
          
          let valData4;
          const valLenBytes4 = len4 * 1;
          if (Array.isArray(val4)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv4 = new DataView(memory0.buffer);
            for (const v of val4) {
              _requireValidNumericPrimitive.bind(null, 'u8')(v);
              dv4.setUint8(ptr4+ offset, v, true);
              offset += 1;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData4 = new Uint8Array(val4.buffer || val4, val4.byteOffset, valLenBytes4);
            const out4 = new Uint8Array(memory0.buffer, ptr4, valLenBytes4);
            out4.set(valData4);
          }
          
          dataView(memory0).setUint32(base + 8, len4, true);
          dataView(memory0).setUint32(base + 4, ptr4, true);
          dataView(memory0).setBigInt64(base + 16, toUint64(v3_2), true);
          var val5 = v3_3;
          let enum5;
          switch (val5) {
            case 'put': {
              enum5 = 0;
              break;
            }
            case 'delete': {
              enum5 = 1;
              break;
            }
            case 'purge': {
              enum5 = 2;
              break;
            }
            case 'expire': {
              enum5 = 3;
              break;
            }
            default: {
              if ((v3_3) instanceof Error) {
                console.error(v3_3);
              }
              
              throw new TypeError(`"${val5}" is not one of the cases of operation`);
            }
          }
          dataView(memory0).setInt8(base + 24, enum5, true);
        }
        dataView(memory0).setUint32(arg2 + 8, len6, true);
        dataView(memory0).setUint32(arg2 + 4, result6, true);
        
        break;
      }
      case 'err': {
        const e = variant12.val;
        dataView(memory0).setInt8(arg2 + 0, 1, true);
        var variant11 = e;
        switch (variant11.tag) {
          case 'wrong-revision': {
            dataView(memory0).setInt8(arg2 + 4, 0, true);
            break;
          }
          case 'not-stored': {
            const e = variant11.val;
            dataView(memory0).setInt8(arg2 + 4, 1, true);
            var {why: v7_0, detail: v7_1 } = e;
            var val8 = v7_0;
            let enum8;
            switch (val8) {
              case 'busy': {
                enum8 = 0;
                break;
              }
              case 'leader-changing': {
                enum8 = 1;
                break;
              }
              case 'no-stream': {
                enum8 = 2;
                break;
              }
              default: {
                if ((v7_0) instanceof Error) {
                  console.error(v7_0);
                }
                
                throw new TypeError(`"${val8}" is not one of the cases of unsent`);
              }
            }
            dataView(memory0).setInt8(arg2 + 8, enum8, true);
            
            var encodeRes = _utf8AllocateAndEncode(v7_1, realloc0, memory0);
            var ptr9= encodeRes.ptr;
            var len9 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 16, len9, true);
            dataView(memory0).setUint32(arg2 + 12, ptr9, true);
            break;
          }
          case 'unavailable': {
            const e = variant11.val;
            dataView(memory0).setInt8(arg2 + 4, 2, true);
            
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr10= encodeRes.ptr;
            var len10 = encodeRes.len;
            
            dataView(memory0).setUint32(arg2 + 12, len10, true);
            dataView(memory0).setUint32(arg2 + 8, ptr10, true);
            break;
          }
          case 'unsupported': {
            dataView(memory0).setInt8(arg2 + 4, 3, true);
            break;
          }
          default: {
            throw new TypeError(`invalid variant tag value \`${JSON.stringify(variant11.tag)}\` (received \`${variant11}\`) specified for \`KvError\``);
          }
        }
        
        break;
      }
      default: {
        _debugLog("ERROR: invalid value (expected result as object with 'tag' member)", { value: variant12, valueType: typeof variant12});
        throw new TypeError('invalid variant specified for result');
      }
    }
    _debugLog('[iface="holds:core/kv@0.3.0", function="get-many"][Instruction::Return]', {
      funcName: 'get-many',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline9.fnName = 'holds:core/kv@0.3.0#getMany';
  
  const _trampoline10 = function(arg0, arg1, arg2) {
    var ptr0 = arg0;
    var len0 = arg1;
    var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
    _debugLog('[iface="holds:core/observer@0.3.0", function="cas-retry"] [Instruction::CallInterface] (sync, @ enter)');
    const hostProvided = true;
    
    let parentTask;
    let task;
    let subtask;
    
    const createTask = () => {
      const results = createNewCurrentTask({
        componentIdx: -1,
        isAsync: false,
        entryFnName: 'casRetry',
        getCallbackFn: () => null,
        callbackFnName: null,
        errHandling: 'none',
        callingWasmExport: false,
      });
      task = results[0];
    };
    
    taskCreation: {
      parentTask = getCurrentTask(
      0,
      _getGlobalCurrentTaskMeta(0)?.taskID,
      )?.task;
      
      if (!parentTask) {
        createTask();
        break taskCreation;
      }
      
      createTask();
      
      if (hostProvided) {
        subtask = parentTask.getLatestSubtask();
        if (!subtask) {
          throw new Error(`Missing subtask (in parent task [${parentTask.id()}]) for host import, has the import been lowered? (ensure asyncImports are set properly)`);
        }
        task.setParentSubtask(subtask);
      }
    }
    
    const started = task.enterSync();
    let ret;
    
    
    try {
      _withGlobalCurrentTaskMeta({
        componentIdx: task.componentIdx(),
        taskID: task.id(),
        fn: () => _trackHostOperation(() => casRetry(result0, arg2 >>> 0)),
      })
      ;
    } catch (err) {
      
      _debugLog('[Instruction::CallInterface] error during sync call', {
        taskID: task.id(),
        subtaskID: task.getParentSubtask()?.id(),
        err,
      });
      getOrCreateAsyncState(0).markTrapped(err);
      task.setErrored(err);
      task.reject(err);
      task.exit();
      throw err;
      
    }
    
    _debugLog('[iface="holds:core/observer@0.3.0", function="cas-retry"][Instruction::Return]', {
      funcName: 'cas-retry',
      paramCount: 0,
      async: false,
      postReturn: false
    });
    task.resolve([ret]);
    task.exit();
  }
  _trampoline10.fnName = 'holds:core/observer@0.3.0#casRetry';
  let exports2;
  let postReturn0;
  let postReturn0Async;
  let postReturn1;
  let postReturn1Async;
  let postReturn2;
  let postReturn2Async;
  let postReturn3;
  let postReturn3Async;
  let postReturn4;
  let postReturn4Async;
  let postReturn5;
  let postReturn5Async;
  let postReturn6;
  let postReturn6Async;
  let postReturn7;
  let postReturn7Async;
  let postReturn8;
  let postReturn8Async;
  let postReturn9;
  let postReturn9Async;
  let postReturn10;
  let postReturn10Async;
  let postReturn11;
  let postReturn11Async;
  let postReturn12;
  let postReturn12Async;
  let postReturn13;
  let postReturn13Async;
  let postReturn14;
  let postReturn14Async;
  let holds030Announce;
  
  function announce(arg0, arg1, arg2) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Announce',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var {file: v0_0, agentId: v0_1, ttl: v0_2, checkoutPath: v0_3, mode: v0_4 } = arg0;
          
          var encodeRes = _utf8AllocateAndEncode(v0_0, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v0_1, realloc0, memory0);
          var ptr2= encodeRes.ptr;
          var len2 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v0_3, realloc0, memory0);
          var ptr3= encodeRes.ptr;
          var len3 = encodeRes.len;
          
          var val4 = v0_4;
          let enum4;
          switch (val4) {
            case 'exclusive': {
              enum4 = 0;
              break;
            }
            case 'shared': {
              enum4 = 1;
              break;
            }
            default: {
              if ((v0_4) instanceof Error) {
                console.error(v0_4);
              }
              
              throw new TypeError(`"${val4}" is not one of the cases of mode`);
            }
          }
          var variant8 = arg2;
          let variant8_0;
          let variant8_1;
          let variant8_2;
          let variant8_3;
          let variant8_4;
          let variant8_5;
          if (variant8 === null || variant8=== undefined) {
            variant8_0 = 0;
            variant8_1 = 0;
            variant8_2 = 0;
            variant8_3 = 0;
            variant8_4 = 0n;
            variant8_5 = 0;
          } else {
            const e = variant8;
            var {found: v5_0, value: v5_1, revision: v5_2, operation: v5_3 } = e;
            var val6 = v5_1;
            var len6 = Array.isArray(val6) ? val6.length : val6.byteLength;
            var ptr6 = realloc0(0, 0, 1, len6 * 1);
            
            let valData6;
            const valLenBytes6 = len6 * 1;
            if (Array.isArray(val6)) {
              // Regular array likely containing numbers, write values to memory
              let offset = 0;
              const dv6 = new DataView(memory0.buffer);
              for (const v of val6) {
                _requireValidNumericPrimitive.bind(null, 'u8')(v);
                dv6.setUint8(ptr6+ offset, v, true);
                offset += 1;
              }
            } else {
              // TypedArray / ArrayBuffer-like, direct copy
              valData6 = new Uint8Array(val6.buffer || val6, val6.byteOffset, valLenBytes6);
              const out6 = new Uint8Array(memory0.buffer, ptr6, valLenBytes6);
              out6.set(valData6);
            }
            
            var val7 = v5_3;
            let enum7;
            switch (val7) {
              case 'put': {
                enum7 = 0;
                break;
              }
              case 'delete': {
                enum7 = 1;
                break;
              }
              case 'purge': {
                enum7 = 2;
                break;
              }
              case 'expire': {
                enum7 = 3;
                break;
              }
              default: {
                if ((v5_3) instanceof Error) {
                  console.error(v5_3);
                }
                
                throw new TypeError(`"${val7}" is not one of the cases of operation`);
              }
            }
            variant8_0 = 1;
            variant8_1 = v5_0 ? 1 : 0;
            variant8_2 = ptr6;
            variant8_3 = len6;
            variant8_4 = toUint64(v5_2);
            variant8_5 = enum7;
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="announce"][Instruction::CallWasm] enter', {
            funcName: 'announce',
            paramCount: 15,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Announce(ptr1, len1, ptr2, len2, toUint64(v0_2), ptr3, len3, enum4, toUint64(arg1), variant8_0, variant8_1, variant8_2, variant8_3, variant8_4, variant8_5),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant38;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var ptr9 = dataView(memory0).getUint32(ret + 8, true);
              var len9 = dataView(memory0).getUint32(ret + 12, true);
              var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
              let enum10;
              switch (dataView(memory0).getUint8(ret + 16, true)) {
                case 0: {
                  enum10 = 'file';
                  break;
                }
                case 1: {
                  enum10 = 'directory';
                  break;
                }
                case 2: {
                  enum10 = 'glob';
                  break;
                }
                default: {
                  throw new TypeError('invalid discriminant specified for Scope');
                }
              }
              var ptr11 = dataView(memory0).getUint32(ret + 24, true);
              var len11 = dataView(memory0).getUint32(ret + 28, true);
              var result11 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr11, len11));
              var ptr12 = dataView(memory0).getUint32(ret + 48, true);
              var len12 = dataView(memory0).getUint32(ret + 52, true);
              var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
              let enum13;
              switch (dataView(memory0).getUint8(ret + 64, true)) {
                case 0: {
                  enum13 = 'exclusive';
                  break;
                }
                case 1: {
                  enum13 = 'shared';
                  break;
                }
                default: {
                  throw new TypeError('invalid discriminant specified for Mode');
                }
              }
              variant38= {
                tag: 'ok',
                val: {
                  file: result9,
                  scope: enum10,
                  hold: {
                    agentId: result11,
                    claimedAt: dataView(memory0).getBigInt64(ret + 32, true),
                    expiresAt: dataView(memory0).getBigInt64(ret + 40, true),
                    checkoutPath: result12,
                    ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 56, true))),
                    mode: enum13,
                  },
                  revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 72, true))),
                }
              };
              break;
            }
            case 1: {
              let variant37;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr14 = dataView(memory0).getUint32(ret + 16, true);
                  var len14 = dataView(memory0).getUint32(ret + 20, true);
                  var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                  let enum15;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum15 = 'file';
                      break;
                    }
                    case 1: {
                      enum15 = 'directory';
                      break;
                    }
                    case 2: {
                      enum15 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr16 = dataView(memory0).getUint32(ret + 32, true);
                  var len16 = dataView(memory0).getUint32(ret + 36, true);
                  var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                  var ptr17 = dataView(memory0).getUint32(ret + 56, true);
                  var len17 = dataView(memory0).getUint32(ret + 60, true);
                  var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                  let enum18;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum18 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum18 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant37= {
                    tag: 'held-by-another',
                    val: {
                      file: result14,
                      scope: enum15,
                      hold: {
                        agentId: result16,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result17,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum18,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len24 = dataView(memory0).getUint32(ret + 20, true);
                  var base24 = dataView(memory0).getUint32(ret + 16, true);
                  if (base24 % 8 !== 0) throw new TypeError(`list pointer [${base24}] is not aligned to 8`);
                  var result24 = [];
                  for (let i = 0; i < len24; i++) {
                    const base = base24 + i * 72;
                    var ptr19 = dataView(memory0).getUint32(base + 0, true);
                    var len19 = dataView(memory0).getUint32(base + 4, true);
                    var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                    let enum20;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum20 = 'file';
                        break;
                      }
                      case 1: {
                        enum20 = 'directory';
                        break;
                      }
                      case 2: {
                        enum20 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr21 = dataView(memory0).getUint32(base + 16, true);
                    var len21 = dataView(memory0).getUint32(base + 20, true);
                    var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                    var ptr22 = dataView(memory0).getUint32(base + 40, true);
                    var len22 = dataView(memory0).getUint32(base + 44, true);
                    var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                    let enum23;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum23 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum23 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result24.push({
                      file: result19,
                      scope: enum20,
                      hold: {
                        agentId: result21,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result22,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum23,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant37= {
                    tag: 'held-by-others',
                    val: result24
                  };
                  break;
                }
                case 2: {
                  var ptr25 = dataView(memory0).getUint32(ret + 16, true);
                  var len25 = dataView(memory0).getUint32(ret + 20, true);
                  var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                  let variant31;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant31 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr26 = dataView(memory0).getUint32(ret + 40, true);
                      var len26 = dataView(memory0).getUint32(ret + 44, true);
                      var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                      let enum27;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum27 = 'file';
                          break;
                        }
                        case 1: {
                          enum27 = 'directory';
                          break;
                        }
                        case 2: {
                          enum27 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr28 = dataView(memory0).getUint32(ret + 56, true);
                      var len28 = dataView(memory0).getUint32(ret + 60, true);
                      var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                      var ptr29 = dataView(memory0).getUint32(ret + 80, true);
                      var len29 = dataView(memory0).getUint32(ret + 84, true);
                      var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                      let enum30;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum30 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum30 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant31 = {
                        file: result26,
                        scope: enum27,
                        hold: {
                          agentId: result28,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result29,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum30,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant37= {
                    tag: 'lost',
                    val: {
                      file: result25,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant31,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr32 = dataView(memory0).getUint32(ret + 16, true);
                  var len32 = dataView(memory0).getUint32(ret + 20, true);
                  var result32 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr32, len32));
                  var ptr33 = dataView(memory0).getUint32(ret + 24, true);
                  var len33 = dataView(memory0).getUint32(ret + 28, true);
                  var result33 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr33, len33));
                  variant37= {
                    tag: 'invalid-input',
                    val: {
                      field: result32,
                      reason: result33,
                    }
                  };
                  break;
                }
                case 4: {
                  variant37= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr34 = dataView(memory0).getUint32(ret + 16, true);
                  var len34 = dataView(memory0).getUint32(ret + 20, true);
                  var result34 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr34, len34));
                  var ptr35 = dataView(memory0).getUint32(ret + 32, true);
                  var len35 = dataView(memory0).getUint32(ret + 36, true);
                  var result35 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr35, len35));
                  variant37= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result34,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result35,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr36 = dataView(memory0).getUint32(ret + 16, true);
                  var len36 = dataView(memory0).getUint32(ret + 20, true);
                  var result36 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr36, len36));
                  variant37= {
                    tag: 'store',
                    val: result36
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant38= {
                tag: 'err',
                val: variant37
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="announce"][Instruction::Return]', {
            funcName: 'announce',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant38;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn0(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030Release;
  
  function release(arg0, arg1, arg2) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Release',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(arg1, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          var variant5 = arg2;
          let variant5_0;
          let variant5_1;
          let variant5_2;
          let variant5_3;
          let variant5_4;
          let variant5_5;
          if (variant5 === null || variant5=== undefined) {
            variant5_0 = 0;
            variant5_1 = 0;
            variant5_2 = 0;
            variant5_3 = 0;
            variant5_4 = 0n;
            variant5_5 = 0;
          } else {
            const e = variant5;
            var {found: v2_0, value: v2_1, revision: v2_2, operation: v2_3 } = e;
            var val3 = v2_1;
            var len3 = Array.isArray(val3) ? val3.length : val3.byteLength;
            var ptr3 = realloc0(0, 0, 1, len3 * 1);
            
            let valData3;
            const valLenBytes3 = len3 * 1;
            if (Array.isArray(val3)) {
              // Regular array likely containing numbers, write values to memory
              let offset = 0;
              const dv3 = new DataView(memory0.buffer);
              for (const v of val3) {
                _requireValidNumericPrimitive.bind(null, 'u8')(v);
                dv3.setUint8(ptr3+ offset, v, true);
                offset += 1;
              }
            } else {
              // TypedArray / ArrayBuffer-like, direct copy
              valData3 = new Uint8Array(val3.buffer || val3, val3.byteOffset, valLenBytes3);
              const out3 = new Uint8Array(memory0.buffer, ptr3, valLenBytes3);
              out3.set(valData3);
            }
            
            var val4 = v2_3;
            let enum4;
            switch (val4) {
              case 'put': {
                enum4 = 0;
                break;
              }
              case 'delete': {
                enum4 = 1;
                break;
              }
              case 'purge': {
                enum4 = 2;
                break;
              }
              case 'expire': {
                enum4 = 3;
                break;
              }
              default: {
                if ((v2_3) instanceof Error) {
                  console.error(v2_3);
                }
                
                throw new TypeError(`"${val4}" is not one of the cases of operation`);
              }
            }
            variant5_0 = 1;
            variant5_1 = v2_0 ? 1 : 0;
            variant5_2 = ptr3;
            variant5_3 = len3;
            variant5_4 = toUint64(v2_2);
            variant5_5 = enum4;
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="release"][Instruction::CallWasm] enter', {
            funcName: 'release',
            paramCount: 10,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Release(ptr0, len0, ptr1, len1, variant5_0, variant5_1, variant5_2, variant5_3, variant5_4, variant5_5),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant31;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              let variant6;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  variant6= {
                    tag: 'released',
                    val: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 16, true)))
                  };
                  break;
                }
                case 1: {
                  variant6= {
                    tag: 'not-held',
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for ReleaseOutcome');
                }
              }
              variant31= {
                tag: 'ok',
                val: variant6
              };
              break;
            }
            case 1: {
              let variant30;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr7 = dataView(memory0).getUint32(ret + 16, true);
                  var len7 = dataView(memory0).getUint32(ret + 20, true);
                  var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                  let enum8;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum8 = 'file';
                      break;
                    }
                    case 1: {
                      enum8 = 'directory';
                      break;
                    }
                    case 2: {
                      enum8 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr9 = dataView(memory0).getUint32(ret + 32, true);
                  var len9 = dataView(memory0).getUint32(ret + 36, true);
                  var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                  var ptr10 = dataView(memory0).getUint32(ret + 56, true);
                  var len10 = dataView(memory0).getUint32(ret + 60, true);
                  var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                  let enum11;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum11 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum11 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant30= {
                    tag: 'held-by-another',
                    val: {
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len17 = dataView(memory0).getUint32(ret + 20, true);
                  var base17 = dataView(memory0).getUint32(ret + 16, true);
                  if (base17 % 8 !== 0) throw new TypeError(`list pointer [${base17}] is not aligned to 8`);
                  var result17 = [];
                  for (let i = 0; i < len17; i++) {
                    const base = base17 + i * 72;
                    var ptr12 = dataView(memory0).getUint32(base + 0, true);
                    var len12 = dataView(memory0).getUint32(base + 4, true);
                    var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                    let enum13;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum13 = 'file';
                        break;
                      }
                      case 1: {
                        enum13 = 'directory';
                        break;
                      }
                      case 2: {
                        enum13 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr14 = dataView(memory0).getUint32(base + 16, true);
                    var len14 = dataView(memory0).getUint32(base + 20, true);
                    var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                    var ptr15 = dataView(memory0).getUint32(base + 40, true);
                    var len15 = dataView(memory0).getUint32(base + 44, true);
                    var result15 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr15, len15));
                    let enum16;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum16 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum16 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result17.push({
                      file: result12,
                      scope: enum13,
                      hold: {
                        agentId: result14,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result15,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum16,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant30= {
                    tag: 'held-by-others',
                    val: result17
                  };
                  break;
                }
                case 2: {
                  var ptr18 = dataView(memory0).getUint32(ret + 16, true);
                  var len18 = dataView(memory0).getUint32(ret + 20, true);
                  var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                  let variant24;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant24 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr19 = dataView(memory0).getUint32(ret + 40, true);
                      var len19 = dataView(memory0).getUint32(ret + 44, true);
                      var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                      let enum20;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum20 = 'file';
                          break;
                        }
                        case 1: {
                          enum20 = 'directory';
                          break;
                        }
                        case 2: {
                          enum20 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr21 = dataView(memory0).getUint32(ret + 56, true);
                      var len21 = dataView(memory0).getUint32(ret + 60, true);
                      var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                      var ptr22 = dataView(memory0).getUint32(ret + 80, true);
                      var len22 = dataView(memory0).getUint32(ret + 84, true);
                      var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                      let enum23;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum23 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum23 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant24 = {
                        file: result19,
                        scope: enum20,
                        hold: {
                          agentId: result21,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result22,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum23,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant30= {
                    tag: 'lost',
                    val: {
                      file: result18,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant24,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr25 = dataView(memory0).getUint32(ret + 16, true);
                  var len25 = dataView(memory0).getUint32(ret + 20, true);
                  var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                  var ptr26 = dataView(memory0).getUint32(ret + 24, true);
                  var len26 = dataView(memory0).getUint32(ret + 28, true);
                  var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                  variant30= {
                    tag: 'invalid-input',
                    val: {
                      field: result25,
                      reason: result26,
                    }
                  };
                  break;
                }
                case 4: {
                  variant30= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  var ptr28 = dataView(memory0).getUint32(ret + 32, true);
                  var len28 = dataView(memory0).getUint32(ret + 36, true);
                  var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                  variant30= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result27,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result28,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  variant30= {
                    tag: 'store',
                    val: result29
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant31= {
                tag: 'err',
                val: variant30
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="release"][Instruction::Return]', {
            funcName: 'release',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant31;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn1(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030WhoHas;
  
  function whoHas(arg0, arg1) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030WhoHas',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          var variant4 = arg1;
          let variant4_0;
          let variant4_1;
          let variant4_2;
          let variant4_3;
          let variant4_4;
          let variant4_5;
          if (variant4 === null || variant4=== undefined) {
            variant4_0 = 0;
            variant4_1 = 0;
            variant4_2 = 0;
            variant4_3 = 0;
            variant4_4 = 0n;
            variant4_5 = 0;
          } else {
            const e = variant4;
            var {found: v1_0, value: v1_1, revision: v1_2, operation: v1_3 } = e;
            var val2 = v1_1;
            var len2 = Array.isArray(val2) ? val2.length : val2.byteLength;
            var ptr2 = realloc0(0, 0, 1, len2 * 1);
            
            let valData2;
            const valLenBytes2 = len2 * 1;
            if (Array.isArray(val2)) {
              // Regular array likely containing numbers, write values to memory
              let offset = 0;
              const dv2 = new DataView(memory0.buffer);
              for (const v of val2) {
                _requireValidNumericPrimitive.bind(null, 'u8')(v);
                dv2.setUint8(ptr2+ offset, v, true);
                offset += 1;
              }
            } else {
              // TypedArray / ArrayBuffer-like, direct copy
              valData2 = new Uint8Array(val2.buffer || val2, val2.byteOffset, valLenBytes2);
              const out2 = new Uint8Array(memory0.buffer, ptr2, valLenBytes2);
              out2.set(valData2);
            }
            
            var val3 = v1_3;
            let enum3;
            switch (val3) {
              case 'put': {
                enum3 = 0;
                break;
              }
              case 'delete': {
                enum3 = 1;
                break;
              }
              case 'purge': {
                enum3 = 2;
                break;
              }
              case 'expire': {
                enum3 = 3;
                break;
              }
              default: {
                if ((v1_3) instanceof Error) {
                  console.error(v1_3);
                }
                
                throw new TypeError(`"${val3}" is not one of the cases of operation`);
              }
            }
            variant4_0 = 1;
            variant4_1 = v1_0 ? 1 : 0;
            variant4_2 = ptr2;
            variant4_3 = len2;
            variant4_4 = toUint64(v1_2);
            variant4_5 = enum3;
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="who-has"][Instruction::CallWasm] enter', {
            funcName: 'who-has',
            paramCount: 8,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030WhoHas(ptr0, len0, variant4_0, variant4_1, variant4_2, variant4_3, variant4_4, variant4_5),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant35;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              let variant10;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  variant10 = undefined;
                  break;
                }
                case 1: {
                  var ptr5 = dataView(memory0).getUint32(ret + 16, true);
                  var len5 = dataView(memory0).getUint32(ret + 20, true);
                  var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                  let enum6;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum6 = 'file';
                      break;
                    }
                    case 1: {
                      enum6 = 'directory';
                      break;
                    }
                    case 2: {
                      enum6 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr7 = dataView(memory0).getUint32(ret + 32, true);
                  var len7 = dataView(memory0).getUint32(ret + 36, true);
                  var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                  var ptr8 = dataView(memory0).getUint32(ret + 56, true);
                  var len8 = dataView(memory0).getUint32(ret + 60, true);
                  var result8 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr8, len8));
                  let enum9;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum9 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum9 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant10 = {
                    file: result5,
                    scope: enum6,
                    hold: {
                      agentId: result7,
                      claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                      expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                      checkoutPath: result8,
                      ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                      mode: enum9,
                    },
                    revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for option');
                }
              }
              variant35= {
                tag: 'ok',
                val: variant10
              };
              break;
            }
            case 1: {
              let variant34;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr11 = dataView(memory0).getUint32(ret + 16, true);
                  var len11 = dataView(memory0).getUint32(ret + 20, true);
                  var result11 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr11, len11));
                  let enum12;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum12 = 'file';
                      break;
                    }
                    case 1: {
                      enum12 = 'directory';
                      break;
                    }
                    case 2: {
                      enum12 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr13 = dataView(memory0).getUint32(ret + 32, true);
                  var len13 = dataView(memory0).getUint32(ret + 36, true);
                  var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                  var ptr14 = dataView(memory0).getUint32(ret + 56, true);
                  var len14 = dataView(memory0).getUint32(ret + 60, true);
                  var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                  let enum15;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum15 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum15 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant34= {
                    tag: 'held-by-another',
                    val: {
                      file: result11,
                      scope: enum12,
                      hold: {
                        agentId: result13,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result14,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum15,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len21 = dataView(memory0).getUint32(ret + 20, true);
                  var base21 = dataView(memory0).getUint32(ret + 16, true);
                  if (base21 % 8 !== 0) throw new TypeError(`list pointer [${base21}] is not aligned to 8`);
                  var result21 = [];
                  for (let i = 0; i < len21; i++) {
                    const base = base21 + i * 72;
                    var ptr16 = dataView(memory0).getUint32(base + 0, true);
                    var len16 = dataView(memory0).getUint32(base + 4, true);
                    var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                    let enum17;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum17 = 'file';
                        break;
                      }
                      case 1: {
                        enum17 = 'directory';
                        break;
                      }
                      case 2: {
                        enum17 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr18 = dataView(memory0).getUint32(base + 16, true);
                    var len18 = dataView(memory0).getUint32(base + 20, true);
                    var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                    var ptr19 = dataView(memory0).getUint32(base + 40, true);
                    var len19 = dataView(memory0).getUint32(base + 44, true);
                    var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                    let enum20;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum20 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum20 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result21.push({
                      file: result16,
                      scope: enum17,
                      hold: {
                        agentId: result18,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result19,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum20,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant34= {
                    tag: 'held-by-others',
                    val: result21
                  };
                  break;
                }
                case 2: {
                  var ptr22 = dataView(memory0).getUint32(ret + 16, true);
                  var len22 = dataView(memory0).getUint32(ret + 20, true);
                  var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                  let variant28;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant28 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr23 = dataView(memory0).getUint32(ret + 40, true);
                      var len23 = dataView(memory0).getUint32(ret + 44, true);
                      var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                      let enum24;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum24 = 'file';
                          break;
                        }
                        case 1: {
                          enum24 = 'directory';
                          break;
                        }
                        case 2: {
                          enum24 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr25 = dataView(memory0).getUint32(ret + 56, true);
                      var len25 = dataView(memory0).getUint32(ret + 60, true);
                      var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                      var ptr26 = dataView(memory0).getUint32(ret + 80, true);
                      var len26 = dataView(memory0).getUint32(ret + 84, true);
                      var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                      let enum27;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum27 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum27 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant28 = {
                        file: result23,
                        scope: enum24,
                        hold: {
                          agentId: result25,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result26,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum27,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant34= {
                    tag: 'lost',
                    val: {
                      file: result22,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant28,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  var ptr30 = dataView(memory0).getUint32(ret + 24, true);
                  var len30 = dataView(memory0).getUint32(ret + 28, true);
                  var result30 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr30, len30));
                  variant34= {
                    tag: 'invalid-input',
                    val: {
                      field: result29,
                      reason: result30,
                    }
                  };
                  break;
                }
                case 4: {
                  variant34= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr31 = dataView(memory0).getUint32(ret + 16, true);
                  var len31 = dataView(memory0).getUint32(ret + 20, true);
                  var result31 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr31, len31));
                  var ptr32 = dataView(memory0).getUint32(ret + 32, true);
                  var len32 = dataView(memory0).getUint32(ret + 36, true);
                  var result32 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr32, len32));
                  variant34= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result31,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result32,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr33 = dataView(memory0).getUint32(ret + 16, true);
                  var len33 = dataView(memory0).getUint32(ret + 20, true);
                  var result33 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr33, len33));
                  variant34= {
                    tag: 'store',
                    val: result33
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant35= {
                tag: 'err',
                val: variant34
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="who-has"][Instruction::Return]', {
            funcName: 'who-has',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant35;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn2(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030Covering;
  
  function covering(arg0) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Covering',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="covering"][Instruction::CallWasm] enter', {
            funcName: 'covering',
            paramCount: 2,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Covering(ptr0, len0),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant31;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var len6 = dataView(memory0).getUint32(ret + 12, true);
              var base6 = dataView(memory0).getUint32(ret + 8, true);
              if (base6 % 8 !== 0) throw new TypeError(`list pointer [${base6}] is not aligned to 8`);
              var result6 = [];
              for (let i = 0; i < len6; i++) {
                const base = base6 + i * 72;
                var ptr1 = dataView(memory0).getUint32(base + 0, true);
                var len1 = dataView(memory0).getUint32(base + 4, true);
                var result1 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr1, len1));
                let enum2;
                switch (dataView(memory0).getUint8(base + 8, true)) {
                  case 0: {
                    enum2 = 'file';
                    break;
                  }
                  case 1: {
                    enum2 = 'directory';
                    break;
                  }
                  case 2: {
                    enum2 = 'glob';
                    break;
                  }
                  default: {
                    throw new TypeError('invalid discriminant specified for Scope');
                  }
                }
                var ptr3 = dataView(memory0).getUint32(base + 16, true);
                var len3 = dataView(memory0).getUint32(base + 20, true);
                var result3 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr3, len3));
                var ptr4 = dataView(memory0).getUint32(base + 40, true);
                var len4 = dataView(memory0).getUint32(base + 44, true);
                var result4 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr4, len4));
                let enum5;
                switch (dataView(memory0).getUint8(base + 56, true)) {
                  case 0: {
                    enum5 = 'exclusive';
                    break;
                  }
                  case 1: {
                    enum5 = 'shared';
                    break;
                  }
                  default: {
                    throw new TypeError('invalid discriminant specified for Mode');
                  }
                }
                result6.push({
                  file: result1,
                  scope: enum2,
                  hold: {
                    agentId: result3,
                    claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                    expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                    checkoutPath: result4,
                    ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                    mode: enum5,
                  },
                  revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                });
              }
              variant31= {
                tag: 'ok',
                val: result6
              };
              break;
            }
            case 1: {
              let variant30;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr7 = dataView(memory0).getUint32(ret + 16, true);
                  var len7 = dataView(memory0).getUint32(ret + 20, true);
                  var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                  let enum8;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum8 = 'file';
                      break;
                    }
                    case 1: {
                      enum8 = 'directory';
                      break;
                    }
                    case 2: {
                      enum8 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr9 = dataView(memory0).getUint32(ret + 32, true);
                  var len9 = dataView(memory0).getUint32(ret + 36, true);
                  var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                  var ptr10 = dataView(memory0).getUint32(ret + 56, true);
                  var len10 = dataView(memory0).getUint32(ret + 60, true);
                  var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                  let enum11;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum11 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum11 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant30= {
                    tag: 'held-by-another',
                    val: {
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len17 = dataView(memory0).getUint32(ret + 20, true);
                  var base17 = dataView(memory0).getUint32(ret + 16, true);
                  if (base17 % 8 !== 0) throw new TypeError(`list pointer [${base17}] is not aligned to 8`);
                  var result17 = [];
                  for (let i = 0; i < len17; i++) {
                    const base = base17 + i * 72;
                    var ptr12 = dataView(memory0).getUint32(base + 0, true);
                    var len12 = dataView(memory0).getUint32(base + 4, true);
                    var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                    let enum13;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum13 = 'file';
                        break;
                      }
                      case 1: {
                        enum13 = 'directory';
                        break;
                      }
                      case 2: {
                        enum13 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr14 = dataView(memory0).getUint32(base + 16, true);
                    var len14 = dataView(memory0).getUint32(base + 20, true);
                    var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                    var ptr15 = dataView(memory0).getUint32(base + 40, true);
                    var len15 = dataView(memory0).getUint32(base + 44, true);
                    var result15 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr15, len15));
                    let enum16;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum16 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum16 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result17.push({
                      file: result12,
                      scope: enum13,
                      hold: {
                        agentId: result14,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result15,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum16,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant30= {
                    tag: 'held-by-others',
                    val: result17
                  };
                  break;
                }
                case 2: {
                  var ptr18 = dataView(memory0).getUint32(ret + 16, true);
                  var len18 = dataView(memory0).getUint32(ret + 20, true);
                  var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                  let variant24;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant24 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr19 = dataView(memory0).getUint32(ret + 40, true);
                      var len19 = dataView(memory0).getUint32(ret + 44, true);
                      var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                      let enum20;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum20 = 'file';
                          break;
                        }
                        case 1: {
                          enum20 = 'directory';
                          break;
                        }
                        case 2: {
                          enum20 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr21 = dataView(memory0).getUint32(ret + 56, true);
                      var len21 = dataView(memory0).getUint32(ret + 60, true);
                      var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                      var ptr22 = dataView(memory0).getUint32(ret + 80, true);
                      var len22 = dataView(memory0).getUint32(ret + 84, true);
                      var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                      let enum23;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum23 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum23 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant24 = {
                        file: result19,
                        scope: enum20,
                        hold: {
                          agentId: result21,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result22,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum23,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant30= {
                    tag: 'lost',
                    val: {
                      file: result18,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant24,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr25 = dataView(memory0).getUint32(ret + 16, true);
                  var len25 = dataView(memory0).getUint32(ret + 20, true);
                  var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                  var ptr26 = dataView(memory0).getUint32(ret + 24, true);
                  var len26 = dataView(memory0).getUint32(ret + 28, true);
                  var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                  variant30= {
                    tag: 'invalid-input',
                    val: {
                      field: result25,
                      reason: result26,
                    }
                  };
                  break;
                }
                case 4: {
                  variant30= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  var ptr28 = dataView(memory0).getUint32(ret + 32, true);
                  var len28 = dataView(memory0).getUint32(ret + 36, true);
                  var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                  variant30= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result27,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result28,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  variant30= {
                    tag: 'store',
                    val: result29
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant31= {
                tag: 'err',
                val: variant30
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="covering"][Instruction::Return]', {
            funcName: 'covering',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant31;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn3(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030ClaimFiles;
  
  function claimFiles(arg0, arg1, arg2, arg3) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030ClaimFiles',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var {files: v0_0, agentId: v0_1, ttl: v0_2, checkoutPath: v0_3, mode: v0_4 } = arg0;
          var vec2 = v0_0;
          var len2 = vec2.length;
          var result2 = realloc0(0, 0, 4, len2 * 8);
          for (let i = 0; i < vec2.length; i++) {
            const e = vec2[i];
            const base = result2 + i * 8;
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr1= encodeRes.ptr;
            var len1 = encodeRes.len;
            
            dataView(memory0).setUint32(base + 4, len1, true);
            dataView(memory0).setUint32(base + 0, ptr1, true);
          }
          
          var encodeRes = _utf8AllocateAndEncode(v0_1, realloc0, memory0);
          var ptr3= encodeRes.ptr;
          var len3 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v0_3, realloc0, memory0);
          var ptr4= encodeRes.ptr;
          var len4 = encodeRes.len;
          
          var val5 = v0_4;
          let enum5;
          switch (val5) {
            case 'exclusive': {
              enum5 = 0;
              break;
            }
            case 'shared': {
              enum5 = 1;
              break;
            }
            default: {
              if ((v0_4) instanceof Error) {
                console.error(v0_4);
              }
              
              throw new TypeError(`"${val5}" is not one of the cases of mode`);
            }
          }
          var vec10 = arg3;
          var len10 = vec10.length;
          var result10 = realloc0(0, 0, 8, len10 * 40);
          for (let i = 0; i < vec10.length; i++) {
            const e = vec10[i];
            const base = result10 + i * 40;var variant9 = e;
            if (variant9 === null || variant9=== undefined) {
              dataView(memory0).setInt8(base + 0, 0, true);
            } else {
              const e = variant9;
              dataView(memory0).setInt8(base + 0, 1, true);
              var {found: v6_0, value: v6_1, revision: v6_2, operation: v6_3 } = e;
              dataView(memory0).setInt8(base + 8, v6_0 ? 1 : 0, true);
              var val7 = v6_1;
              var len7 = Array.isArray(val7) ? val7.length : val7.byteLength;
              var ptr7 = realloc0(0, 0, 1, len7 * 1);
              
              let valData7;
              const valLenBytes7 = len7 * 1;
              if (Array.isArray(val7)) {
                // Regular array likely containing numbers, write values to memory
                let offset = 0;
                const dv7 = new DataView(memory0.buffer);
                for (const v of val7) {
                  _requireValidNumericPrimitive.bind(null, 'u8')(v);
                  dv7.setUint8(ptr7+ offset, v, true);
                  offset += 1;
                }
              } else {
                // TypedArray / ArrayBuffer-like, direct copy
                valData7 = new Uint8Array(val7.buffer || val7, val7.byteOffset, valLenBytes7);
                const out7 = new Uint8Array(memory0.buffer, ptr7, valLenBytes7);
                out7.set(valData7);
              }
              
              dataView(memory0).setUint32(base + 16, len7, true);
              dataView(memory0).setUint32(base + 12, ptr7, true);
              dataView(memory0).setBigInt64(base + 24, toUint64(v6_2), true);
              var val8 = v6_3;
              let enum8;
              switch (val8) {
                case 'put': {
                  enum8 = 0;
                  break;
                }
                case 'delete': {
                  enum8 = 1;
                  break;
                }
                case 'purge': {
                  enum8 = 2;
                  break;
                }
                case 'expire': {
                  enum8 = 3;
                  break;
                }
                default: {
                  if ((v6_3) instanceof Error) {
                    console.error(v6_3);
                  }
                  
                  throw new TypeError(`"${val8}" is not one of the cases of operation`);
                }
              }
              dataView(memory0).setInt8(base + 32, enum8, true);
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="claim-files"][Instruction::CallWasm] enter', {
            funcName: 'claim-files',
            paramCount: 12,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030ClaimFiles(result2, len2, ptr3, len3, toUint64(v0_2), ptr4, len4, enum5, toUint64(arg1), toUint32(arg2), result10, len10),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant42;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var len16 = dataView(memory0).getUint32(ret + 12, true);
              var base16 = dataView(memory0).getUint32(ret + 8, true);
              if (base16 % 8 !== 0) throw new TypeError(`list pointer [${base16}] is not aligned to 8`);
              var result16 = [];
              for (let i = 0; i < len16; i++) {
                const base = base16 + i * 72;
                var ptr11 = dataView(memory0).getUint32(base + 0, true);
                var len11 = dataView(memory0).getUint32(base + 4, true);
                var result11 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr11, len11));
                let enum12;
                switch (dataView(memory0).getUint8(base + 8, true)) {
                  case 0: {
                    enum12 = 'file';
                    break;
                  }
                  case 1: {
                    enum12 = 'directory';
                    break;
                  }
                  case 2: {
                    enum12 = 'glob';
                    break;
                  }
                  default: {
                    throw new TypeError('invalid discriminant specified for Scope');
                  }
                }
                var ptr13 = dataView(memory0).getUint32(base + 16, true);
                var len13 = dataView(memory0).getUint32(base + 20, true);
                var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                var ptr14 = dataView(memory0).getUint32(base + 40, true);
                var len14 = dataView(memory0).getUint32(base + 44, true);
                var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                let enum15;
                switch (dataView(memory0).getUint8(base + 56, true)) {
                  case 0: {
                    enum15 = 'exclusive';
                    break;
                  }
                  case 1: {
                    enum15 = 'shared';
                    break;
                  }
                  default: {
                    throw new TypeError('invalid discriminant specified for Mode');
                  }
                }
                result16.push({
                  file: result11,
                  scope: enum12,
                  hold: {
                    agentId: result13,
                    claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                    expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                    checkoutPath: result14,
                    ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                    mode: enum15,
                  },
                  revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                });
              }
              var bool17 = dataView(memory0).getUint8(ret + 16, true);
              variant42= {
                tag: 'ok',
                val: {
                  claims: result16,
                  atomic: bool17 == 0 ? false : (bool17 == 1 ? true : throwInvalidBool()),
                }
              };
              break;
            }
            case 1: {
              let variant41;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr18 = dataView(memory0).getUint32(ret + 16, true);
                  var len18 = dataView(memory0).getUint32(ret + 20, true);
                  var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                  let enum19;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum19 = 'file';
                      break;
                    }
                    case 1: {
                      enum19 = 'directory';
                      break;
                    }
                    case 2: {
                      enum19 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr20 = dataView(memory0).getUint32(ret + 32, true);
                  var len20 = dataView(memory0).getUint32(ret + 36, true);
                  var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                  var ptr21 = dataView(memory0).getUint32(ret + 56, true);
                  var len21 = dataView(memory0).getUint32(ret + 60, true);
                  var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                  let enum22;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum22 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum22 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant41= {
                    tag: 'held-by-another',
                    val: {
                      file: result18,
                      scope: enum19,
                      hold: {
                        agentId: result20,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result21,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum22,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len28 = dataView(memory0).getUint32(ret + 20, true);
                  var base28 = dataView(memory0).getUint32(ret + 16, true);
                  if (base28 % 8 !== 0) throw new TypeError(`list pointer [${base28}] is not aligned to 8`);
                  var result28 = [];
                  for (let i = 0; i < len28; i++) {
                    const base = base28 + i * 72;
                    var ptr23 = dataView(memory0).getUint32(base + 0, true);
                    var len23 = dataView(memory0).getUint32(base + 4, true);
                    var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                    let enum24;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum24 = 'file';
                        break;
                      }
                      case 1: {
                        enum24 = 'directory';
                        break;
                      }
                      case 2: {
                        enum24 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr25 = dataView(memory0).getUint32(base + 16, true);
                    var len25 = dataView(memory0).getUint32(base + 20, true);
                    var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                    var ptr26 = dataView(memory0).getUint32(base + 40, true);
                    var len26 = dataView(memory0).getUint32(base + 44, true);
                    var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                    let enum27;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum27 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum27 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result28.push({
                      file: result23,
                      scope: enum24,
                      hold: {
                        agentId: result25,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result26,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum27,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant41= {
                    tag: 'held-by-others',
                    val: result28
                  };
                  break;
                }
                case 2: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  let variant35;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant35 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr30 = dataView(memory0).getUint32(ret + 40, true);
                      var len30 = dataView(memory0).getUint32(ret + 44, true);
                      var result30 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr30, len30));
                      let enum31;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum31 = 'file';
                          break;
                        }
                        case 1: {
                          enum31 = 'directory';
                          break;
                        }
                        case 2: {
                          enum31 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr32 = dataView(memory0).getUint32(ret + 56, true);
                      var len32 = dataView(memory0).getUint32(ret + 60, true);
                      var result32 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr32, len32));
                      var ptr33 = dataView(memory0).getUint32(ret + 80, true);
                      var len33 = dataView(memory0).getUint32(ret + 84, true);
                      var result33 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr33, len33));
                      let enum34;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum34 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum34 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant35 = {
                        file: result30,
                        scope: enum31,
                        hold: {
                          agentId: result32,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result33,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum34,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant41= {
                    tag: 'lost',
                    val: {
                      file: result29,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant35,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr36 = dataView(memory0).getUint32(ret + 16, true);
                  var len36 = dataView(memory0).getUint32(ret + 20, true);
                  var result36 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr36, len36));
                  var ptr37 = dataView(memory0).getUint32(ret + 24, true);
                  var len37 = dataView(memory0).getUint32(ret + 28, true);
                  var result37 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr37, len37));
                  variant41= {
                    tag: 'invalid-input',
                    val: {
                      field: result36,
                      reason: result37,
                    }
                  };
                  break;
                }
                case 4: {
                  variant41= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr38 = dataView(memory0).getUint32(ret + 16, true);
                  var len38 = dataView(memory0).getUint32(ret + 20, true);
                  var result38 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr38, len38));
                  var ptr39 = dataView(memory0).getUint32(ret + 32, true);
                  var len39 = dataView(memory0).getUint32(ret + 36, true);
                  var result39 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr39, len39));
                  variant41= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result38,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result39,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr40 = dataView(memory0).getUint32(ret + 16, true);
                  var len40 = dataView(memory0).getUint32(ret + 20, true);
                  var result40 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr40, len40));
                  variant41= {
                    tag: 'store',
                    val: result40
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant42= {
                tag: 'err',
                val: variant41
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="claim-files"][Instruction::Return]', {
            funcName: 'claim-files',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant42;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn4(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030Renew;
  
  function renew(arg0, arg1, arg2) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Renew',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var {file: v0_0, agentId: v0_1, ttl: v0_2, checkoutPath: v0_3, mode: v0_4 } = arg0;
          
          var encodeRes = _utf8AllocateAndEncode(v0_0, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v0_1, realloc0, memory0);
          var ptr2= encodeRes.ptr;
          var len2 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v0_3, realloc0, memory0);
          var ptr3= encodeRes.ptr;
          var len3 = encodeRes.len;
          
          var val4 = v0_4;
          let enum4;
          switch (val4) {
            case 'exclusive': {
              enum4 = 0;
              break;
            }
            case 'shared': {
              enum4 = 1;
              break;
            }
            default: {
              if ((v0_4) instanceof Error) {
                console.error(v0_4);
              }
              
              throw new TypeError(`"${val4}" is not one of the cases of mode`);
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="renew"][Instruction::CallWasm] enter', {
            funcName: 'renew',
            paramCount: 10,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Renew(ptr1, len1, ptr2, len2, toUint64(v0_2), ptr3, len3, enum4, toUint64(arg1), toUint64(arg2)),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant34;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var ptr5 = dataView(memory0).getUint32(ret + 8, true);
              var len5 = dataView(memory0).getUint32(ret + 12, true);
              var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
              let enum6;
              switch (dataView(memory0).getUint8(ret + 16, true)) {
                case 0: {
                  enum6 = 'file';
                  break;
                }
                case 1: {
                  enum6 = 'directory';
                  break;
                }
                case 2: {
                  enum6 = 'glob';
                  break;
                }
                default: {
                  throw new TypeError('invalid discriminant specified for Scope');
                }
              }
              var ptr7 = dataView(memory0).getUint32(ret + 24, true);
              var len7 = dataView(memory0).getUint32(ret + 28, true);
              var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
              var ptr8 = dataView(memory0).getUint32(ret + 48, true);
              var len8 = dataView(memory0).getUint32(ret + 52, true);
              var result8 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr8, len8));
              let enum9;
              switch (dataView(memory0).getUint8(ret + 64, true)) {
                case 0: {
                  enum9 = 'exclusive';
                  break;
                }
                case 1: {
                  enum9 = 'shared';
                  break;
                }
                default: {
                  throw new TypeError('invalid discriminant specified for Mode');
                }
              }
              variant34= {
                tag: 'ok',
                val: {
                  file: result5,
                  scope: enum6,
                  hold: {
                    agentId: result7,
                    claimedAt: dataView(memory0).getBigInt64(ret + 32, true),
                    expiresAt: dataView(memory0).getBigInt64(ret + 40, true),
                    checkoutPath: result8,
                    ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 56, true))),
                    mode: enum9,
                  },
                  revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 72, true))),
                }
              };
              break;
            }
            case 1: {
              let variant33;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr10 = dataView(memory0).getUint32(ret + 16, true);
                  var len10 = dataView(memory0).getUint32(ret + 20, true);
                  var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                  let enum11;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum11 = 'file';
                      break;
                    }
                    case 1: {
                      enum11 = 'directory';
                      break;
                    }
                    case 2: {
                      enum11 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr12 = dataView(memory0).getUint32(ret + 32, true);
                  var len12 = dataView(memory0).getUint32(ret + 36, true);
                  var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                  var ptr13 = dataView(memory0).getUint32(ret + 56, true);
                  var len13 = dataView(memory0).getUint32(ret + 60, true);
                  var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                  let enum14;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum14 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum14 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant33= {
                    tag: 'held-by-another',
                    val: {
                      file: result10,
                      scope: enum11,
                      hold: {
                        agentId: result12,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result13,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum14,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len20 = dataView(memory0).getUint32(ret + 20, true);
                  var base20 = dataView(memory0).getUint32(ret + 16, true);
                  if (base20 % 8 !== 0) throw new TypeError(`list pointer [${base20}] is not aligned to 8`);
                  var result20 = [];
                  for (let i = 0; i < len20; i++) {
                    const base = base20 + i * 72;
                    var ptr15 = dataView(memory0).getUint32(base + 0, true);
                    var len15 = dataView(memory0).getUint32(base + 4, true);
                    var result15 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr15, len15));
                    let enum16;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum16 = 'file';
                        break;
                      }
                      case 1: {
                        enum16 = 'directory';
                        break;
                      }
                      case 2: {
                        enum16 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr17 = dataView(memory0).getUint32(base + 16, true);
                    var len17 = dataView(memory0).getUint32(base + 20, true);
                    var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                    var ptr18 = dataView(memory0).getUint32(base + 40, true);
                    var len18 = dataView(memory0).getUint32(base + 44, true);
                    var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                    let enum19;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum19 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum19 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result20.push({
                      file: result15,
                      scope: enum16,
                      hold: {
                        agentId: result17,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result18,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum19,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant33= {
                    tag: 'held-by-others',
                    val: result20
                  };
                  break;
                }
                case 2: {
                  var ptr21 = dataView(memory0).getUint32(ret + 16, true);
                  var len21 = dataView(memory0).getUint32(ret + 20, true);
                  var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                  let variant27;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant27 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr22 = dataView(memory0).getUint32(ret + 40, true);
                      var len22 = dataView(memory0).getUint32(ret + 44, true);
                      var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                      let enum23;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum23 = 'file';
                          break;
                        }
                        case 1: {
                          enum23 = 'directory';
                          break;
                        }
                        case 2: {
                          enum23 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr24 = dataView(memory0).getUint32(ret + 56, true);
                      var len24 = dataView(memory0).getUint32(ret + 60, true);
                      var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                      var ptr25 = dataView(memory0).getUint32(ret + 80, true);
                      var len25 = dataView(memory0).getUint32(ret + 84, true);
                      var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                      let enum26;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum26 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum26 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant27 = {
                        file: result22,
                        scope: enum23,
                        hold: {
                          agentId: result24,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result25,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum26,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant33= {
                    tag: 'lost',
                    val: {
                      file: result21,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant27,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr28 = dataView(memory0).getUint32(ret + 16, true);
                  var len28 = dataView(memory0).getUint32(ret + 20, true);
                  var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                  var ptr29 = dataView(memory0).getUint32(ret + 24, true);
                  var len29 = dataView(memory0).getUint32(ret + 28, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  variant33= {
                    tag: 'invalid-input',
                    val: {
                      field: result28,
                      reason: result29,
                    }
                  };
                  break;
                }
                case 4: {
                  variant33= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr30 = dataView(memory0).getUint32(ret + 16, true);
                  var len30 = dataView(memory0).getUint32(ret + 20, true);
                  var result30 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr30, len30));
                  var ptr31 = dataView(memory0).getUint32(ret + 32, true);
                  var len31 = dataView(memory0).getUint32(ret + 36, true);
                  var result31 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr31, len31));
                  variant33= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result30,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result31,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr32 = dataView(memory0).getUint32(ret + 16, true);
                  var len32 = dataView(memory0).getUint32(ret + 20, true);
                  var result32 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr32, len32));
                  variant33= {
                    tag: 'store',
                    val: result32
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant34= {
                tag: 'err',
                val: variant33
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="renew"][Instruction::Return]', {
            funcName: 'renew',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant34;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn5(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030Check;
  
  function check(arg0, arg1, arg2) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Check',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var vec1 = arg0;
          var len1 = vec1.length;
          var result1 = realloc0(0, 0, 4, len1 * 8);
          for (let i = 0; i < vec1.length; i++) {
            const e = vec1[i];
            const base = result1 + i * 8;
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr0= encodeRes.ptr;
            var len0 = encodeRes.len;
            
            dataView(memory0).setUint32(base + 4, len0, true);
            dataView(memory0).setUint32(base + 0, ptr0, true);
          }
          
          var encodeRes = _utf8AllocateAndEncode(arg1, realloc0, memory0);
          var ptr2= encodeRes.ptr;
          var len2 = encodeRes.len;
          
          var val3 = arg2;
          var len3 = val3.length;
          var ptr3 = realloc0(0, 0, 8, len3 * 8);
          
          let valData3;
          const valLenBytes3 = len3 * 8;
          if (Array.isArray(val3)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv3 = new DataView(memory0.buffer);
            for (const v of val3) {
              _requireValidNumericPrimitive.bind(null, 'u64')(v);
              dv3.setBigUint64(ptr3+ offset, v, true);
              offset += 8;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData3 = new Uint8Array(val3.buffer || val3, val3.byteOffset, valLenBytes3);
            const out3 = new Uint8Array(memory0.buffer, ptr3, valLenBytes3);
            out3.set(valData3);
          }
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="check"][Instruction::CallWasm] enter', {
            funcName: 'check',
            paramCount: 6,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Check(result1, len1, ptr2, len2, ptr3, len3),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant51;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var len26 = dataView(memory0).getUint32(ret + 12, true);
              var base26 = dataView(memory0).getUint32(ret + 8, true);
              if (base26 % 8 !== 0) throw new TypeError(`list pointer [${base26}] is not aligned to 8`);
              var result26 = [];
              for (let i = 0; i < len26; i++) {
                const base = base26 + i * 88;
                var ptr4 = dataView(memory0).getUint32(base + 0, true);
                var len4 = dataView(memory0).getUint32(base + 4, true);
                var result4 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr4, len4));
                let variant25;
                switch (dataView(memory0).getUint8(base + 8, true)) {
                  case 0: {
                    var ptr5 = dataView(memory0).getUint32(base + 16, true);
                    var len5 = dataView(memory0).getUint32(base + 20, true);
                    var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                    let enum6;
                    switch (dataView(memory0).getUint8(base + 24, true)) {
                      case 0: {
                        enum6 = 'file';
                        break;
                      }
                      case 1: {
                        enum6 = 'directory';
                        break;
                      }
                      case 2: {
                        enum6 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr7 = dataView(memory0).getUint32(base + 32, true);
                    var len7 = dataView(memory0).getUint32(base + 36, true);
                    var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                    var ptr8 = dataView(memory0).getUint32(base + 56, true);
                    var len8 = dataView(memory0).getUint32(base + 60, true);
                    var result8 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr8, len8));
                    let enum9;
                    switch (dataView(memory0).getUint8(base + 72, true)) {
                      case 0: {
                        enum9 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum9 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    variant25= {
                      tag: 'held',
                      val: {
                        file: result5,
                        scope: enum6,
                        hold: {
                          agentId: result7,
                          claimedAt: dataView(memory0).getBigInt64(base + 40, true),
                          expiresAt: dataView(memory0).getBigInt64(base + 48, true),
                          checkoutPath: result8,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                          mode: enum9,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 80, true))),
                      }
                    };
                    break;
                  }
                  case 1: {
                    var ptr10 = dataView(memory0).getUint32(base + 16, true);
                    var len10 = dataView(memory0).getUint32(base + 20, true);
                    var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                    let enum11;
                    switch (dataView(memory0).getUint8(base + 24, true)) {
                      case 0: {
                        enum11 = 'file';
                        break;
                      }
                      case 1: {
                        enum11 = 'directory';
                        break;
                      }
                      case 2: {
                        enum11 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr12 = dataView(memory0).getUint32(base + 32, true);
                    var len12 = dataView(memory0).getUint32(base + 36, true);
                    var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                    var ptr13 = dataView(memory0).getUint32(base + 56, true);
                    var len13 = dataView(memory0).getUint32(base + 60, true);
                    var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                    let enum14;
                    switch (dataView(memory0).getUint8(base + 72, true)) {
                      case 0: {
                        enum14 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum14 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    variant25= {
                      tag: 'token-moved',
                      val: {
                        file: result10,
                        scope: enum11,
                        hold: {
                          agentId: result12,
                          claimedAt: dataView(memory0).getBigInt64(base + 40, true),
                          expiresAt: dataView(memory0).getBigInt64(base + 48, true),
                          checkoutPath: result13,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                          mode: enum14,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 80, true))),
                      }
                    };
                    break;
                  }
                  case 2: {
                    var ptr15 = dataView(memory0).getUint32(base + 16, true);
                    var len15 = dataView(memory0).getUint32(base + 20, true);
                    var result15 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr15, len15));
                    let enum16;
                    switch (dataView(memory0).getUint8(base + 24, true)) {
                      case 0: {
                        enum16 = 'file';
                        break;
                      }
                      case 1: {
                        enum16 = 'directory';
                        break;
                      }
                      case 2: {
                        enum16 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr17 = dataView(memory0).getUint32(base + 32, true);
                    var len17 = dataView(memory0).getUint32(base + 36, true);
                    var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                    var ptr18 = dataView(memory0).getUint32(base + 56, true);
                    var len18 = dataView(memory0).getUint32(base + 60, true);
                    var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                    let enum19;
                    switch (dataView(memory0).getUint8(base + 72, true)) {
                      case 0: {
                        enum19 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum19 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    variant25= {
                      tag: 'held-by-another',
                      val: {
                        file: result15,
                        scope: enum16,
                        hold: {
                          agentId: result17,
                          claimedAt: dataView(memory0).getBigInt64(base + 40, true),
                          expiresAt: dataView(memory0).getBigInt64(base + 48, true),
                          checkoutPath: result18,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                          mode: enum19,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 80, true))),
                      }
                    };
                    break;
                  }
                  case 3: {
                    var ptr20 = dataView(memory0).getUint32(base + 16, true);
                    var len20 = dataView(memory0).getUint32(base + 20, true);
                    var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                    let enum21;
                    switch (dataView(memory0).getUint8(base + 24, true)) {
                      case 0: {
                        enum21 = 'file';
                        break;
                      }
                      case 1: {
                        enum21 = 'directory';
                        break;
                      }
                      case 2: {
                        enum21 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr22 = dataView(memory0).getUint32(base + 32, true);
                    var len22 = dataView(memory0).getUint32(base + 36, true);
                    var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                    var ptr23 = dataView(memory0).getUint32(base + 56, true);
                    var len23 = dataView(memory0).getUint32(base + 60, true);
                    var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                    let enum24;
                    switch (dataView(memory0).getUint8(base + 72, true)) {
                      case 0: {
                        enum24 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum24 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    variant25= {
                      tag: 'shared',
                      val: {
                        file: result20,
                        scope: enum21,
                        hold: {
                          agentId: result22,
                          claimedAt: dataView(memory0).getBigInt64(base + 40, true),
                          expiresAt: dataView(memory0).getBigInt64(base + 48, true),
                          checkoutPath: result23,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                          mode: enum24,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 80, true))),
                      }
                    };
                    break;
                  }
                  case 4: {
                    variant25= {
                      tag: 'vacant',
                    };
                    break;
                  }
                  default: {
                    throw new TypeError('invalid variant discriminant for FileState');
                  }
                }
                result26.push({
                  file: result4,
                  state: variant25,
                });
              }
              variant51= {
                tag: 'ok',
                val: result26
              };
              break;
            }
            case 1: {
              let variant50;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  let enum28;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum28 = 'file';
                      break;
                    }
                    case 1: {
                      enum28 = 'directory';
                      break;
                    }
                    case 2: {
                      enum28 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr29 = dataView(memory0).getUint32(ret + 32, true);
                  var len29 = dataView(memory0).getUint32(ret + 36, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  var ptr30 = dataView(memory0).getUint32(ret + 56, true);
                  var len30 = dataView(memory0).getUint32(ret + 60, true);
                  var result30 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr30, len30));
                  let enum31;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum31 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum31 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant50= {
                    tag: 'held-by-another',
                    val: {
                      file: result27,
                      scope: enum28,
                      hold: {
                        agentId: result29,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result30,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum31,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len37 = dataView(memory0).getUint32(ret + 20, true);
                  var base37 = dataView(memory0).getUint32(ret + 16, true);
                  if (base37 % 8 !== 0) throw new TypeError(`list pointer [${base37}] is not aligned to 8`);
                  var result37 = [];
                  for (let i = 0; i < len37; i++) {
                    const base = base37 + i * 72;
                    var ptr32 = dataView(memory0).getUint32(base + 0, true);
                    var len32 = dataView(memory0).getUint32(base + 4, true);
                    var result32 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr32, len32));
                    let enum33;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum33 = 'file';
                        break;
                      }
                      case 1: {
                        enum33 = 'directory';
                        break;
                      }
                      case 2: {
                        enum33 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr34 = dataView(memory0).getUint32(base + 16, true);
                    var len34 = dataView(memory0).getUint32(base + 20, true);
                    var result34 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr34, len34));
                    var ptr35 = dataView(memory0).getUint32(base + 40, true);
                    var len35 = dataView(memory0).getUint32(base + 44, true);
                    var result35 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr35, len35));
                    let enum36;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum36 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum36 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result37.push({
                      file: result32,
                      scope: enum33,
                      hold: {
                        agentId: result34,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result35,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum36,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant50= {
                    tag: 'held-by-others',
                    val: result37
                  };
                  break;
                }
                case 2: {
                  var ptr38 = dataView(memory0).getUint32(ret + 16, true);
                  var len38 = dataView(memory0).getUint32(ret + 20, true);
                  var result38 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr38, len38));
                  let variant44;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant44 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr39 = dataView(memory0).getUint32(ret + 40, true);
                      var len39 = dataView(memory0).getUint32(ret + 44, true);
                      var result39 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr39, len39));
                      let enum40;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum40 = 'file';
                          break;
                        }
                        case 1: {
                          enum40 = 'directory';
                          break;
                        }
                        case 2: {
                          enum40 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr41 = dataView(memory0).getUint32(ret + 56, true);
                      var len41 = dataView(memory0).getUint32(ret + 60, true);
                      var result41 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr41, len41));
                      var ptr42 = dataView(memory0).getUint32(ret + 80, true);
                      var len42 = dataView(memory0).getUint32(ret + 84, true);
                      var result42 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr42, len42));
                      let enum43;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum43 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum43 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant44 = {
                        file: result39,
                        scope: enum40,
                        hold: {
                          agentId: result41,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result42,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum43,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant50= {
                    tag: 'lost',
                    val: {
                      file: result38,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant44,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr45 = dataView(memory0).getUint32(ret + 16, true);
                  var len45 = dataView(memory0).getUint32(ret + 20, true);
                  var result45 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr45, len45));
                  var ptr46 = dataView(memory0).getUint32(ret + 24, true);
                  var len46 = dataView(memory0).getUint32(ret + 28, true);
                  var result46 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr46, len46));
                  variant50= {
                    tag: 'invalid-input',
                    val: {
                      field: result45,
                      reason: result46,
                    }
                  };
                  break;
                }
                case 4: {
                  variant50= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr47 = dataView(memory0).getUint32(ret + 16, true);
                  var len47 = dataView(memory0).getUint32(ret + 20, true);
                  var result47 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr47, len47));
                  var ptr48 = dataView(memory0).getUint32(ret + 32, true);
                  var len48 = dataView(memory0).getUint32(ret + 36, true);
                  var result48 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr48, len48));
                  variant50= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result47,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result48,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr49 = dataView(memory0).getUint32(ret + 16, true);
                  var len49 = dataView(memory0).getUint32(ret + 20, true);
                  var result49 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr49, len49));
                  variant50= {
                    tag: 'store',
                    val: result49
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant51= {
                tag: 'err',
                val: variant50
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="check"][Instruction::Return]', {
            funcName: 'check',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant51;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn6(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030ForceRelease;
  
  function forceRelease(arg0, arg1, arg2) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030ForceRelease',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(arg1, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          var variant5 = arg2;
          let variant5_0;
          let variant5_1;
          let variant5_2;
          let variant5_3;
          let variant5_4;
          let variant5_5;
          if (variant5 === null || variant5=== undefined) {
            variant5_0 = 0;
            variant5_1 = 0;
            variant5_2 = 0;
            variant5_3 = 0;
            variant5_4 = 0n;
            variant5_5 = 0;
          } else {
            const e = variant5;
            var {found: v2_0, value: v2_1, revision: v2_2, operation: v2_3 } = e;
            var val3 = v2_1;
            var len3 = Array.isArray(val3) ? val3.length : val3.byteLength;
            var ptr3 = realloc0(0, 0, 1, len3 * 1);
            
            let valData3;
            const valLenBytes3 = len3 * 1;
            if (Array.isArray(val3)) {
              // Regular array likely containing numbers, write values to memory
              let offset = 0;
              const dv3 = new DataView(memory0.buffer);
              for (const v of val3) {
                _requireValidNumericPrimitive.bind(null, 'u8')(v);
                dv3.setUint8(ptr3+ offset, v, true);
                offset += 1;
              }
            } else {
              // TypedArray / ArrayBuffer-like, direct copy
              valData3 = new Uint8Array(val3.buffer || val3, val3.byteOffset, valLenBytes3);
              const out3 = new Uint8Array(memory0.buffer, ptr3, valLenBytes3);
              out3.set(valData3);
            }
            
            var val4 = v2_3;
            let enum4;
            switch (val4) {
              case 'put': {
                enum4 = 0;
                break;
              }
              case 'delete': {
                enum4 = 1;
                break;
              }
              case 'purge': {
                enum4 = 2;
                break;
              }
              case 'expire': {
                enum4 = 3;
                break;
              }
              default: {
                if ((v2_3) instanceof Error) {
                  console.error(v2_3);
                }
                
                throw new TypeError(`"${val4}" is not one of the cases of operation`);
              }
            }
            variant5_0 = 1;
            variant5_1 = v2_0 ? 1 : 0;
            variant5_2 = ptr3;
            variant5_3 = len3;
            variant5_4 = toUint64(v2_2);
            variant5_5 = enum4;
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="force-release"][Instruction::CallWasm] enter', {
            funcName: 'force-release',
            paramCount: 10,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030ForceRelease(ptr0, len0, ptr1, len1, variant5_0, variant5_1, variant5_2, variant5_3, variant5_4, variant5_5),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant31;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              let variant6;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  variant6= {
                    tag: 'released',
                    val: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 16, true)))
                  };
                  break;
                }
                case 1: {
                  variant6= {
                    tag: 'not-held',
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for ReleaseOutcome');
                }
              }
              variant31= {
                tag: 'ok',
                val: variant6
              };
              break;
            }
            case 1: {
              let variant30;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr7 = dataView(memory0).getUint32(ret + 16, true);
                  var len7 = dataView(memory0).getUint32(ret + 20, true);
                  var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                  let enum8;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum8 = 'file';
                      break;
                    }
                    case 1: {
                      enum8 = 'directory';
                      break;
                    }
                    case 2: {
                      enum8 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr9 = dataView(memory0).getUint32(ret + 32, true);
                  var len9 = dataView(memory0).getUint32(ret + 36, true);
                  var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                  var ptr10 = dataView(memory0).getUint32(ret + 56, true);
                  var len10 = dataView(memory0).getUint32(ret + 60, true);
                  var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                  let enum11;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum11 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum11 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant30= {
                    tag: 'held-by-another',
                    val: {
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len17 = dataView(memory0).getUint32(ret + 20, true);
                  var base17 = dataView(memory0).getUint32(ret + 16, true);
                  if (base17 % 8 !== 0) throw new TypeError(`list pointer [${base17}] is not aligned to 8`);
                  var result17 = [];
                  for (let i = 0; i < len17; i++) {
                    const base = base17 + i * 72;
                    var ptr12 = dataView(memory0).getUint32(base + 0, true);
                    var len12 = dataView(memory0).getUint32(base + 4, true);
                    var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                    let enum13;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum13 = 'file';
                        break;
                      }
                      case 1: {
                        enum13 = 'directory';
                        break;
                      }
                      case 2: {
                        enum13 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr14 = dataView(memory0).getUint32(base + 16, true);
                    var len14 = dataView(memory0).getUint32(base + 20, true);
                    var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                    var ptr15 = dataView(memory0).getUint32(base + 40, true);
                    var len15 = dataView(memory0).getUint32(base + 44, true);
                    var result15 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr15, len15));
                    let enum16;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum16 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum16 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result17.push({
                      file: result12,
                      scope: enum13,
                      hold: {
                        agentId: result14,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result15,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum16,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant30= {
                    tag: 'held-by-others',
                    val: result17
                  };
                  break;
                }
                case 2: {
                  var ptr18 = dataView(memory0).getUint32(ret + 16, true);
                  var len18 = dataView(memory0).getUint32(ret + 20, true);
                  var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
                  let variant24;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant24 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr19 = dataView(memory0).getUint32(ret + 40, true);
                      var len19 = dataView(memory0).getUint32(ret + 44, true);
                      var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                      let enum20;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum20 = 'file';
                          break;
                        }
                        case 1: {
                          enum20 = 'directory';
                          break;
                        }
                        case 2: {
                          enum20 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr21 = dataView(memory0).getUint32(ret + 56, true);
                      var len21 = dataView(memory0).getUint32(ret + 60, true);
                      var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                      var ptr22 = dataView(memory0).getUint32(ret + 80, true);
                      var len22 = dataView(memory0).getUint32(ret + 84, true);
                      var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                      let enum23;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum23 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum23 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant24 = {
                        file: result19,
                        scope: enum20,
                        hold: {
                          agentId: result21,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result22,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum23,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant30= {
                    tag: 'lost',
                    val: {
                      file: result18,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant24,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr25 = dataView(memory0).getUint32(ret + 16, true);
                  var len25 = dataView(memory0).getUint32(ret + 20, true);
                  var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                  var ptr26 = dataView(memory0).getUint32(ret + 24, true);
                  var len26 = dataView(memory0).getUint32(ret + 28, true);
                  var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                  variant30= {
                    tag: 'invalid-input',
                    val: {
                      field: result25,
                      reason: result26,
                    }
                  };
                  break;
                }
                case 4: {
                  variant30= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  var ptr28 = dataView(memory0).getUint32(ret + 32, true);
                  var len28 = dataView(memory0).getUint32(ret + 36, true);
                  var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                  variant30= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result27,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result28,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  variant30= {
                    tag: 'store',
                    val: result29
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant31= {
                tag: 'err',
                val: variant30
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="force-release"][Instruction::Return]', {
            funcName: 'force-release',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant31;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn7(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030KeyForFile;
  
  function keyForFile(arg0) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030KeyForFile',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="key-for-file"][Instruction::CallWasm] enter', {
            funcName: 'key-for-file',
            paramCount: 2,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030KeyForFile(ptr0, len0),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant26;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var ptr1 = dataView(memory0).getUint32(ret + 8, true);
              var len1 = dataView(memory0).getUint32(ret + 12, true);
              var result1 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr1, len1));
              variant26= {
                tag: 'ok',
                val: result1
              };
              break;
            }
            case 1: {
              let variant25;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr2 = dataView(memory0).getUint32(ret + 16, true);
                  var len2 = dataView(memory0).getUint32(ret + 20, true);
                  var result2 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr2, len2));
                  let enum3;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum3 = 'file';
                      break;
                    }
                    case 1: {
                      enum3 = 'directory';
                      break;
                    }
                    case 2: {
                      enum3 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr4 = dataView(memory0).getUint32(ret + 32, true);
                  var len4 = dataView(memory0).getUint32(ret + 36, true);
                  var result4 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr4, len4));
                  var ptr5 = dataView(memory0).getUint32(ret + 56, true);
                  var len5 = dataView(memory0).getUint32(ret + 60, true);
                  var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                  let enum6;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum6 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum6 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant25= {
                    tag: 'held-by-another',
                    val: {
                      file: result2,
                      scope: enum3,
                      hold: {
                        agentId: result4,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result5,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum6,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len12 = dataView(memory0).getUint32(ret + 20, true);
                  var base12 = dataView(memory0).getUint32(ret + 16, true);
                  if (base12 % 8 !== 0) throw new TypeError(`list pointer [${base12}] is not aligned to 8`);
                  var result12 = [];
                  for (let i = 0; i < len12; i++) {
                    const base = base12 + i * 72;
                    var ptr7 = dataView(memory0).getUint32(base + 0, true);
                    var len7 = dataView(memory0).getUint32(base + 4, true);
                    var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                    let enum8;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum8 = 'file';
                        break;
                      }
                      case 1: {
                        enum8 = 'directory';
                        break;
                      }
                      case 2: {
                        enum8 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr9 = dataView(memory0).getUint32(base + 16, true);
                    var len9 = dataView(memory0).getUint32(base + 20, true);
                    var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                    var ptr10 = dataView(memory0).getUint32(base + 40, true);
                    var len10 = dataView(memory0).getUint32(base + 44, true);
                    var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                    let enum11;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum11 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum11 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result12.push({
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant25= {
                    tag: 'held-by-others',
                    val: result12
                  };
                  break;
                }
                case 2: {
                  var ptr13 = dataView(memory0).getUint32(ret + 16, true);
                  var len13 = dataView(memory0).getUint32(ret + 20, true);
                  var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                  let variant19;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant19 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr14 = dataView(memory0).getUint32(ret + 40, true);
                      var len14 = dataView(memory0).getUint32(ret + 44, true);
                      var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                      let enum15;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum15 = 'file';
                          break;
                        }
                        case 1: {
                          enum15 = 'directory';
                          break;
                        }
                        case 2: {
                          enum15 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr16 = dataView(memory0).getUint32(ret + 56, true);
                      var len16 = dataView(memory0).getUint32(ret + 60, true);
                      var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                      var ptr17 = dataView(memory0).getUint32(ret + 80, true);
                      var len17 = dataView(memory0).getUint32(ret + 84, true);
                      var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                      let enum18;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum18 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum18 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant19 = {
                        file: result14,
                        scope: enum15,
                        hold: {
                          agentId: result16,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result17,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum18,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant25= {
                    tag: 'lost',
                    val: {
                      file: result13,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant19,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr20 = dataView(memory0).getUint32(ret + 16, true);
                  var len20 = dataView(memory0).getUint32(ret + 20, true);
                  var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                  var ptr21 = dataView(memory0).getUint32(ret + 24, true);
                  var len21 = dataView(memory0).getUint32(ret + 28, true);
                  var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                  variant25= {
                    tag: 'invalid-input',
                    val: {
                      field: result20,
                      reason: result21,
                    }
                  };
                  break;
                }
                case 4: {
                  variant25= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr22 = dataView(memory0).getUint32(ret + 16, true);
                  var len22 = dataView(memory0).getUint32(ret + 20, true);
                  var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                  var ptr23 = dataView(memory0).getUint32(ret + 32, true);
                  var len23 = dataView(memory0).getUint32(ret + 36, true);
                  var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                  variant25= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result22,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result23,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr24 = dataView(memory0).getUint32(ret + 16, true);
                  var len24 = dataView(memory0).getUint32(ret + 20, true);
                  var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                  variant25= {
                    tag: 'store',
                    val: result24
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant26= {
                tag: 'err',
                val: variant25
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="key-for-file"][Instruction::Return]', {
            funcName: 'key-for-file',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant26;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn8(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030FileForKey;
  
  function fileForKey(arg0) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030FileForKey',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="file-for-key"][Instruction::CallWasm] enter', {
            funcName: 'file-for-key',
            paramCount: 2,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030FileForKey(ptr0, len0),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant26;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var ptr1 = dataView(memory0).getUint32(ret + 8, true);
              var len1 = dataView(memory0).getUint32(ret + 12, true);
              var result1 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr1, len1));
              variant26= {
                tag: 'ok',
                val: result1
              };
              break;
            }
            case 1: {
              let variant25;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr2 = dataView(memory0).getUint32(ret + 16, true);
                  var len2 = dataView(memory0).getUint32(ret + 20, true);
                  var result2 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr2, len2));
                  let enum3;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum3 = 'file';
                      break;
                    }
                    case 1: {
                      enum3 = 'directory';
                      break;
                    }
                    case 2: {
                      enum3 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr4 = dataView(memory0).getUint32(ret + 32, true);
                  var len4 = dataView(memory0).getUint32(ret + 36, true);
                  var result4 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr4, len4));
                  var ptr5 = dataView(memory0).getUint32(ret + 56, true);
                  var len5 = dataView(memory0).getUint32(ret + 60, true);
                  var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                  let enum6;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum6 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum6 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant25= {
                    tag: 'held-by-another',
                    val: {
                      file: result2,
                      scope: enum3,
                      hold: {
                        agentId: result4,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result5,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum6,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len12 = dataView(memory0).getUint32(ret + 20, true);
                  var base12 = dataView(memory0).getUint32(ret + 16, true);
                  if (base12 % 8 !== 0) throw new TypeError(`list pointer [${base12}] is not aligned to 8`);
                  var result12 = [];
                  for (let i = 0; i < len12; i++) {
                    const base = base12 + i * 72;
                    var ptr7 = dataView(memory0).getUint32(base + 0, true);
                    var len7 = dataView(memory0).getUint32(base + 4, true);
                    var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                    let enum8;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum8 = 'file';
                        break;
                      }
                      case 1: {
                        enum8 = 'directory';
                        break;
                      }
                      case 2: {
                        enum8 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr9 = dataView(memory0).getUint32(base + 16, true);
                    var len9 = dataView(memory0).getUint32(base + 20, true);
                    var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                    var ptr10 = dataView(memory0).getUint32(base + 40, true);
                    var len10 = dataView(memory0).getUint32(base + 44, true);
                    var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                    let enum11;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum11 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum11 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result12.push({
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant25= {
                    tag: 'held-by-others',
                    val: result12
                  };
                  break;
                }
                case 2: {
                  var ptr13 = dataView(memory0).getUint32(ret + 16, true);
                  var len13 = dataView(memory0).getUint32(ret + 20, true);
                  var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                  let variant19;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant19 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr14 = dataView(memory0).getUint32(ret + 40, true);
                      var len14 = dataView(memory0).getUint32(ret + 44, true);
                      var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                      let enum15;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum15 = 'file';
                          break;
                        }
                        case 1: {
                          enum15 = 'directory';
                          break;
                        }
                        case 2: {
                          enum15 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr16 = dataView(memory0).getUint32(ret + 56, true);
                      var len16 = dataView(memory0).getUint32(ret + 60, true);
                      var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                      var ptr17 = dataView(memory0).getUint32(ret + 80, true);
                      var len17 = dataView(memory0).getUint32(ret + 84, true);
                      var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                      let enum18;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum18 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum18 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant19 = {
                        file: result14,
                        scope: enum15,
                        hold: {
                          agentId: result16,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result17,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum18,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant25= {
                    tag: 'lost',
                    val: {
                      file: result13,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant19,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr20 = dataView(memory0).getUint32(ret + 16, true);
                  var len20 = dataView(memory0).getUint32(ret + 20, true);
                  var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                  var ptr21 = dataView(memory0).getUint32(ret + 24, true);
                  var len21 = dataView(memory0).getUint32(ret + 28, true);
                  var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                  variant25= {
                    tag: 'invalid-input',
                    val: {
                      field: result20,
                      reason: result21,
                    }
                  };
                  break;
                }
                case 4: {
                  variant25= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr22 = dataView(memory0).getUint32(ret + 16, true);
                  var len22 = dataView(memory0).getUint32(ret + 20, true);
                  var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                  var ptr23 = dataView(memory0).getUint32(ret + 32, true);
                  var len23 = dataView(memory0).getUint32(ret + 36, true);
                  var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                  variant25= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result22,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result23,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr24 = dataView(memory0).getUint32(ret + 16, true);
                  var len24 = dataView(memory0).getUint32(ret + 20, true);
                  var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                  variant25= {
                    tag: 'store',
                    val: result24
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant26= {
                tag: 'err',
                val: variant25
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="file-for-key"][Instruction::Return]', {
            funcName: 'file-for-key',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant26;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn9(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030CheckBucket;
  
  function checkBucket(arg0, arg1) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030CheckBucket',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var {bucket: v0_0, maxAge: v0_1, maxMessages: v0_2, maxBytes: v0_3, maxMessagesPerKey: v0_4, discardOld: v0_5, discardNewPerKey: v0_6 } = arg0;
          
          var encodeRes = _utf8AllocateAndEncode(v0_0, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="check-bucket"][Instruction::CallWasm] enter', {
            funcName: 'check-bucket',
            paramCount: 9,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030CheckBucket(ptr1, len1, toUint64(v0_1), toInt64(v0_2), toInt64(v0_3), toInt64(v0_4), v0_5 ? 1 : 0, v0_6 ? 1 : 0, toUint64(arg1)),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant26;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              variant26= {
                tag: 'ok',
                val: undefined
              };
              break;
            }
            case 1: {
              let variant25;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr2 = dataView(memory0).getUint32(ret + 16, true);
                  var len2 = dataView(memory0).getUint32(ret + 20, true);
                  var result2 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr2, len2));
                  let enum3;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum3 = 'file';
                      break;
                    }
                    case 1: {
                      enum3 = 'directory';
                      break;
                    }
                    case 2: {
                      enum3 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr4 = dataView(memory0).getUint32(ret + 32, true);
                  var len4 = dataView(memory0).getUint32(ret + 36, true);
                  var result4 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr4, len4));
                  var ptr5 = dataView(memory0).getUint32(ret + 56, true);
                  var len5 = dataView(memory0).getUint32(ret + 60, true);
                  var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                  let enum6;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum6 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum6 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant25= {
                    tag: 'held-by-another',
                    val: {
                      file: result2,
                      scope: enum3,
                      hold: {
                        agentId: result4,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result5,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum6,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len12 = dataView(memory0).getUint32(ret + 20, true);
                  var base12 = dataView(memory0).getUint32(ret + 16, true);
                  if (base12 % 8 !== 0) throw new TypeError(`list pointer [${base12}] is not aligned to 8`);
                  var result12 = [];
                  for (let i = 0; i < len12; i++) {
                    const base = base12 + i * 72;
                    var ptr7 = dataView(memory0).getUint32(base + 0, true);
                    var len7 = dataView(memory0).getUint32(base + 4, true);
                    var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                    let enum8;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum8 = 'file';
                        break;
                      }
                      case 1: {
                        enum8 = 'directory';
                        break;
                      }
                      case 2: {
                        enum8 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr9 = dataView(memory0).getUint32(base + 16, true);
                    var len9 = dataView(memory0).getUint32(base + 20, true);
                    var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                    var ptr10 = dataView(memory0).getUint32(base + 40, true);
                    var len10 = dataView(memory0).getUint32(base + 44, true);
                    var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                    let enum11;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum11 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum11 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result12.push({
                      file: result7,
                      scope: enum8,
                      hold: {
                        agentId: result9,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result10,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum11,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant25= {
                    tag: 'held-by-others',
                    val: result12
                  };
                  break;
                }
                case 2: {
                  var ptr13 = dataView(memory0).getUint32(ret + 16, true);
                  var len13 = dataView(memory0).getUint32(ret + 20, true);
                  var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                  let variant19;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant19 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr14 = dataView(memory0).getUint32(ret + 40, true);
                      var len14 = dataView(memory0).getUint32(ret + 44, true);
                      var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                      let enum15;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum15 = 'file';
                          break;
                        }
                        case 1: {
                          enum15 = 'directory';
                          break;
                        }
                        case 2: {
                          enum15 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr16 = dataView(memory0).getUint32(ret + 56, true);
                      var len16 = dataView(memory0).getUint32(ret + 60, true);
                      var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                      var ptr17 = dataView(memory0).getUint32(ret + 80, true);
                      var len17 = dataView(memory0).getUint32(ret + 84, true);
                      var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                      let enum18;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum18 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum18 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant19 = {
                        file: result14,
                        scope: enum15,
                        hold: {
                          agentId: result16,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result17,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum18,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant25= {
                    tag: 'lost',
                    val: {
                      file: result13,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant19,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr20 = dataView(memory0).getUint32(ret + 16, true);
                  var len20 = dataView(memory0).getUint32(ret + 20, true);
                  var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                  var ptr21 = dataView(memory0).getUint32(ret + 24, true);
                  var len21 = dataView(memory0).getUint32(ret + 28, true);
                  var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                  variant25= {
                    tag: 'invalid-input',
                    val: {
                      field: result20,
                      reason: result21,
                    }
                  };
                  break;
                }
                case 4: {
                  variant25= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr22 = dataView(memory0).getUint32(ret + 16, true);
                  var len22 = dataView(memory0).getUint32(ret + 20, true);
                  var result22 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr22, len22));
                  var ptr23 = dataView(memory0).getUint32(ret + 32, true);
                  var len23 = dataView(memory0).getUint32(ret + 36, true);
                  var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                  variant25= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result22,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result23,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr24 = dataView(memory0).getUint32(ret + 16, true);
                  var len24 = dataView(memory0).getUint32(ret + 20, true);
                  var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                  variant25= {
                    tag: 'store',
                    val: result24
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant26= {
                tag: 'err',
                val: variant25
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="check-bucket"][Instruction::Return]', {
            funcName: 'check-bucket',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant26;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn10(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let holds030Identify;
  
  function identify(arg0, arg1) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'holds030Identify',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var vec1 = arg0;
          var len1 = vec1.length;
          var result1 = realloc0(0, 0, 4, len1 * 8);
          for (let i = 0; i < vec1.length; i++) {
            const e = vec1[i];
            const base = result1 + i * 8;
            var encodeRes = _utf8AllocateAndEncode(e, realloc0, memory0);
            var ptr0= encodeRes.ptr;
            var len0 = encodeRes.len;
            
            dataView(memory0).setUint32(base + 4, len0, true);
            dataView(memory0).setUint32(base + 0, ptr0, true);
          }
          var {cwd: v2_0, workspace: v2_1, checkout: v2_2 } = arg1;
          
          var encodeRes = _utf8AllocateAndEncode(v2_0, realloc0, memory0);
          var ptr3= encodeRes.ptr;
          var len3 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v2_1, realloc0, memory0);
          var ptr4= encodeRes.ptr;
          var len4 = encodeRes.len;
          
          
          var encodeRes = _utf8AllocateAndEncode(v2_2, realloc0, memory0);
          var ptr5= encodeRes.ptr;
          var len5 = encodeRes.len;
          
          _debugLog('[iface="holds:core/holds@0.3.0", function="identify"][Instruction::CallWasm] enter', {
            funcName: 'identify',
            paramCount: 8,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => holds030Identify(result1, len1, ptr3, len3, ptr4, len4, ptr5, len5),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant33;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              var len8 = dataView(memory0).getUint32(ret + 12, true);
              var base8 = dataView(memory0).getUint32(ret + 8, true);
              if (base8 % 4 !== 0) throw new TypeError(`list pointer [${base8}] is not aligned to 4`);
              var result8 = [];
              for (let i = 0; i < len8; i++) {
                const base = base8 + i * 16;
                var ptr6 = dataView(memory0).getUint32(base + 0, true);
                var len6 = dataView(memory0).getUint32(base + 4, true);
                var result6 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr6, len6));
                var ptr7 = dataView(memory0).getUint32(base + 8, true);
                var len7 = dataView(memory0).getUint32(base + 12, true);
                var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                result8.push({
                  file: result6,
                  checkout: result7,
                });
              }
              variant33= {
                tag: 'ok',
                val: result8
              };
              break;
            }
            case 1: {
              let variant32;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr9 = dataView(memory0).getUint32(ret + 16, true);
                  var len9 = dataView(memory0).getUint32(ret + 20, true);
                  var result9 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr9, len9));
                  let enum10;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum10 = 'file';
                      break;
                    }
                    case 1: {
                      enum10 = 'directory';
                      break;
                    }
                    case 2: {
                      enum10 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr11 = dataView(memory0).getUint32(ret + 32, true);
                  var len11 = dataView(memory0).getUint32(ret + 36, true);
                  var result11 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr11, len11));
                  var ptr12 = dataView(memory0).getUint32(ret + 56, true);
                  var len12 = dataView(memory0).getUint32(ret + 60, true);
                  var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                  let enum13;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum13 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum13 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant32= {
                    tag: 'held-by-another',
                    val: {
                      file: result9,
                      scope: enum10,
                      hold: {
                        agentId: result11,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result12,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum13,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len19 = dataView(memory0).getUint32(ret + 20, true);
                  var base19 = dataView(memory0).getUint32(ret + 16, true);
                  if (base19 % 8 !== 0) throw new TypeError(`list pointer [${base19}] is not aligned to 8`);
                  var result19 = [];
                  for (let i = 0; i < len19; i++) {
                    const base = base19 + i * 72;
                    var ptr14 = dataView(memory0).getUint32(base + 0, true);
                    var len14 = dataView(memory0).getUint32(base + 4, true);
                    var result14 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr14, len14));
                    let enum15;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum15 = 'file';
                        break;
                      }
                      case 1: {
                        enum15 = 'directory';
                        break;
                      }
                      case 2: {
                        enum15 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr16 = dataView(memory0).getUint32(base + 16, true);
                    var len16 = dataView(memory0).getUint32(base + 20, true);
                    var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                    var ptr17 = dataView(memory0).getUint32(base + 40, true);
                    var len17 = dataView(memory0).getUint32(base + 44, true);
                    var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                    let enum18;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum18 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum18 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result19.push({
                      file: result14,
                      scope: enum15,
                      hold: {
                        agentId: result16,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result17,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum18,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant32= {
                    tag: 'held-by-others',
                    val: result19
                  };
                  break;
                }
                case 2: {
                  var ptr20 = dataView(memory0).getUint32(ret + 16, true);
                  var len20 = dataView(memory0).getUint32(ret + 20, true);
                  var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                  let variant26;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant26 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr21 = dataView(memory0).getUint32(ret + 40, true);
                      var len21 = dataView(memory0).getUint32(ret + 44, true);
                      var result21 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr21, len21));
                      let enum22;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum22 = 'file';
                          break;
                        }
                        case 1: {
                          enum22 = 'directory';
                          break;
                        }
                        case 2: {
                          enum22 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr23 = dataView(memory0).getUint32(ret + 56, true);
                      var len23 = dataView(memory0).getUint32(ret + 60, true);
                      var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                      var ptr24 = dataView(memory0).getUint32(ret + 80, true);
                      var len24 = dataView(memory0).getUint32(ret + 84, true);
                      var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                      let enum25;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum25 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum25 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant26 = {
                        file: result21,
                        scope: enum22,
                        hold: {
                          agentId: result23,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result24,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum25,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant32= {
                    tag: 'lost',
                    val: {
                      file: result20,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant26,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  var ptr28 = dataView(memory0).getUint32(ret + 24, true);
                  var len28 = dataView(memory0).getUint32(ret + 28, true);
                  var result28 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr28, len28));
                  variant32= {
                    tag: 'invalid-input',
                    val: {
                      field: result27,
                      reason: result28,
                    }
                  };
                  break;
                }
                case 4: {
                  variant32= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr29 = dataView(memory0).getUint32(ret + 16, true);
                  var len29 = dataView(memory0).getUint32(ret + 20, true);
                  var result29 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr29, len29));
                  var ptr30 = dataView(memory0).getUint32(ret + 32, true);
                  var len30 = dataView(memory0).getUint32(ret + 36, true);
                  var result30 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr30, len30));
                  variant32= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result29,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result30,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr31 = dataView(memory0).getUint32(ret + 16, true);
                  var len31 = dataView(memory0).getUint32(ret + 20, true);
                  var result31 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr31, len31));
                  variant32= {
                    tag: 'store',
                    val: result31
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant33= {
                tag: 'err',
                val: variant32
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/holds@0.3.0", function="identify"][Instruction::Return]', {
            funcName: 'identify',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant33;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn11(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let subscribe030MarkerHeaders;
  
  function markerHeaders() {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'subscribe030MarkerHeaders',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'none',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="marker-headers"][Instruction::CallWasm] enter', {
            funcName: 'marker-headers',
            paramCount: 0,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => subscribe030MarkerHeaders(),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          var len3 = dataView(memory0).getUint32(ret + 4, true);
          var base3 = dataView(memory0).getUint32(ret + 0, true);
          if (base3 % 4 !== 0) throw new TypeError(`list pointer [${base3}] is not aligned to 4`);
          var result3 = [];
          for (let i = 0; i < len3; i++) {
            const base = base3 + i * 20;
            var ptr0 = dataView(memory0).getUint32(base + 0, true);
            var len0 = dataView(memory0).getUint32(base + 4, true);
            var result0 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr0, len0));
            var ptr1 = dataView(memory0).getUint32(base + 8, true);
            var len1 = dataView(memory0).getUint32(base + 12, true);
            var result1 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr1, len1));
            let enum2;
            switch (dataView(memory0).getUint8(base + 16, true)) {
              case 0: {
                enum2 = 'put';
                break;
              }
              case 1: {
                enum2 = 'delete';
                break;
              }
              case 2: {
                enum2 = 'purge';
                break;
              }
              case 3: {
                enum2 = 'expire';
                break;
              }
              default: {
                throw new TypeError('invalid discriminant specified for Operation');
              }
            }
            result3.push({
              name: result0,
              value: result1,
              operation: enum2,
            });
          }
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="marker-headers"][Instruction::Return]', {
            funcName: 'marker-headers',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          task.resolve([result3]);
          const retCopy = result3;
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn12(ret);
          cstate.mayLeave = true;
          task.exit();
          return retCopy;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let subscribe030Upkeep;
  
  function upkeep(arg0) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'subscribe030Upkeep',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'none',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="upkeep"][Instruction::CallWasm] enter', {
            funcName: 'upkeep',
            paramCount: 1,
            async: false,
            postReturn: false,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => subscribe030Upkeep(toUint64(arg0)),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="upkeep"][Instruction::Return]', {
            funcName: 'upkeep',
            paramCount: 1,
            async: false,
            postReturn: false
          });
          task.resolve([{
            pruneEvery: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 0, true))),
            keepHold: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 8, true))),
            keepMarker: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 16, true))),
            sweepRetry: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
            concurrentSweeps: dataView(memory0).getInt32(ret + 32, true) >>> 0,
            restartAfter: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 40, true))),
          }]);
          task.exit();
          return {
            pruneEvery: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 0, true))),
            keepHold: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 8, true))),
            keepMarker: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 16, true))),
            sweepRetry: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
            concurrentSweeps: dataView(memory0).getInt32(ret + 32, true) >>> 0,
            restartAfter: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 40, true))),
          };
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let subscribe030Interpret;
  
  function interpret(arg0) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'subscribe030Interpret',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'none',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          var {key: v0_0, entry: v0_1, previous: v0_2, snapshot: v0_3 } = arg0;
          
          var encodeRes = _utf8AllocateAndEncode(v0_0, realloc0, memory0);
          var ptr1= encodeRes.ptr;
          var len1 = encodeRes.len;
          
          var {found: v2_0, value: v2_1, revision: v2_2, operation: v2_3 } = v0_1;
          var val3 = v2_1;
          var len3 = Array.isArray(val3) ? val3.length : val3.byteLength;
          var ptr3 = realloc0(0, 0, 1, len3 * 1);
          
          let valData3;
          const valLenBytes3 = len3 * 1;
          if (Array.isArray(val3)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv3 = new DataView(memory0.buffer);
            for (const v of val3) {
              _requireValidNumericPrimitive.bind(null, 'u8')(v);
              dv3.setUint8(ptr3+ offset, v, true);
              offset += 1;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData3 = new Uint8Array(val3.buffer || val3, val3.byteOffset, valLenBytes3);
            const out3 = new Uint8Array(memory0.buffer, ptr3, valLenBytes3);
            out3.set(valData3);
          }
          
          var val4 = v2_3;
          let enum4;
          switch (val4) {
            case 'put': {
              enum4 = 0;
              break;
            }
            case 'delete': {
              enum4 = 1;
              break;
            }
            case 'purge': {
              enum4 = 2;
              break;
            }
            case 'expire': {
              enum4 = 3;
              break;
            }
            default: {
              if ((v2_3) instanceof Error) {
                console.error(v2_3);
              }
              
              throw new TypeError(`"${val4}" is not one of the cases of operation`);
            }
          }
          var {found: v5_0, value: v5_1, revision: v5_2, operation: v5_3 } = v0_2;
          var val6 = v5_1;
          var len6 = Array.isArray(val6) ? val6.length : val6.byteLength;
          var ptr6 = realloc0(0, 0, 1, len6 * 1);
          
          let valData6;
          const valLenBytes6 = len6 * 1;
          if (Array.isArray(val6)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv6 = new DataView(memory0.buffer);
            for (const v of val6) {
              _requireValidNumericPrimitive.bind(null, 'u8')(v);
              dv6.setUint8(ptr6+ offset, v, true);
              offset += 1;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData6 = new Uint8Array(val6.buffer || val6, val6.byteOffset, valLenBytes6);
            const out6 = new Uint8Array(memory0.buffer, ptr6, valLenBytes6);
            out6.set(valData6);
          }
          
          var val7 = v5_3;
          let enum7;
          switch (val7) {
            case 'put': {
              enum7 = 0;
              break;
            }
            case 'delete': {
              enum7 = 1;
              break;
            }
            case 'purge': {
              enum7 = 2;
              break;
            }
            case 'expire': {
              enum7 = 3;
              break;
            }
            default: {
              if ((v5_3) instanceof Error) {
                console.error(v5_3);
              }
              
              throw new TypeError(`"${val7}" is not one of the cases of operation`);
            }
          }
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="interpret"][Instruction::CallWasm] enter', {
            funcName: 'interpret',
            paramCount: 13,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => subscribe030Interpret(ptr1, len1, v2_0 ? 1 : 0, ptr3, len3, toUint64(v2_2), enum4, v5_0 ? 1 : 0, ptr6, len6, toUint64(v5_2), enum7, v0_3 ? 1 : 0),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant16;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              variant16 = undefined;
              break;
            }
            case 1: {
              var ptr8 = dataView(memory0).getUint32(ret + 8, true);
              var len8 = dataView(memory0).getUint32(ret + 12, true);
              var result8 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr8, len8));
              let enum9;
              switch (dataView(memory0).getUint8(ret + 16, true)) {
                case 0: {
                  enum9 = 'file';
                  break;
                }
                case 1: {
                  enum9 = 'directory';
                  break;
                }
                case 2: {
                  enum9 = 'glob';
                  break;
                }
                default: {
                  throw new TypeError('invalid discriminant specified for Scope');
                }
              }
              let variant15;
              switch (dataView(memory0).getUint8(ret + 32, true)) {
                case 0: {
                  var ptr10 = dataView(memory0).getUint32(ret + 40, true);
                  var len10 = dataView(memory0).getUint32(ret + 44, true);
                  var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                  var ptr11 = dataView(memory0).getUint32(ret + 64, true);
                  var len11 = dataView(memory0).getUint32(ret + 68, true);
                  var result11 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr11, len11));
                  let enum12;
                  switch (dataView(memory0).getUint8(ret + 80, true)) {
                    case 0: {
                      enum12 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum12 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant15= {
                    tag: 'announced',
                    val: {
                      agentId: result10,
                      claimedAt: dataView(memory0).getBigInt64(ret + 48, true),
                      expiresAt: dataView(memory0).getBigInt64(ret + 56, true),
                      checkoutPath: result11,
                      ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 72, true))),
                      mode: enum12,
                    }
                  };
                  break;
                }
                case 1: {
                  let variant14;
                  switch (dataView(memory0).getUint8(ret + 40, true)) {
                    case 0: {
                      variant14 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr13 = dataView(memory0).getUint32(ret + 44, true);
                      var len13 = dataView(memory0).getUint32(ret + 48, true);
                      var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                      variant14 = result13;
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant15= {
                    tag: 'released',
                    val: variant14
                  };
                  break;
                }
                case 2: {
                  variant15= {
                    tag: 'expired',
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for ChangeKind');
                }
              }
              variant16 = {
                file: result8,
                scope: enum9,
                revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                kind: variant15,
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for option');
            }
          }
          let variant17;
          switch (dataView(memory0).getUint8(ret + 88, true)) {
            case 0: {
              variant17 = undefined;
              break;
            }
            case 1: {
              variant17 = dataView(memory0).getBigInt64(ret + 96, true);
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for option');
            }
          }
          let variant19;
          switch (dataView(memory0).getUint8(ret + 104, true)) {
            case 0: {
              variant19 = undefined;
              break;
            }
            case 1: {
              var ptr18 = dataView(memory0).getUint32(ret + 108, true);
              var len18 = dataView(memory0).getUint32(ret + 112, true);
              var result18 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr18, len18));
              variant19 = result18;
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for option');
            }
          }
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="interpret"][Instruction::Return]', {
            funcName: 'interpret',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          task.resolve([{
            event: variant16,
            expiryCheckAt: variant17,
            dropped: variant19,
          }]);
          const retCopy = {
            event: variant16,
            expiryCheckAt: variant17,
            dropped: variant19,
          };
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn13(ret);
          cstate.mayLeave = true;
          task.exit();
          return retCopy;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let subscribe030Sweep;
  
  function sweep(arg0, arg1) {
    
    const hostProvided = false;
    getOrCreateAsyncState(0).throwIfTrapped();
    
    const [task, _wasm_call_currentTaskID] = createNewCurrentTask({
      componentIdx: 0,
      isAsync: false,
      isManualAsync: false,
      preserveFutureResult: false,
      entryFnName: 'subscribe030Sweep',
      getCallbackFn: () => null,
      callbackFnName: null,
      errHandling: 'throw-result-err',
      callingWasmExport: true,
    });
    task.setCalleeIsAsync(false);
    
    const started = task.enterSync();
    CURRENT_TASK_MAY_BLOCK.value = task.mayBlock() ? 1 : 0;
    
    if (0!== null) {
      task.setReturnMemoryIdx(0);
      task.setReturnMemory((() => memory0)());
    }
    
    
    return _withGlobalCurrentTaskMeta({
      taskID: task.id(),
      componentIdx: task.componentIdx(),
      fn: () => {
        try {
          
          
          var encodeRes = _utf8AllocateAndEncode(arg0, realloc0, memory0);
          var ptr0= encodeRes.ptr;
          var len0 = encodeRes.len;
          
          var {found: v1_0, value: v1_1, revision: v1_2, operation: v1_3 } = arg1;
          var val2 = v1_1;
          var len2 = Array.isArray(val2) ? val2.length : val2.byteLength;
          var ptr2 = realloc0(0, 0, 1, len2 * 1);
          
          let valData2;
          const valLenBytes2 = len2 * 1;
          if (Array.isArray(val2)) {
            // Regular array likely containing numbers, write values to memory
            let offset = 0;
            const dv2 = new DataView(memory0.buffer);
            for (const v of val2) {
              _requireValidNumericPrimitive.bind(null, 'u8')(v);
              dv2.setUint8(ptr2+ offset, v, true);
              offset += 1;
            }
          } else {
            // TypedArray / ArrayBuffer-like, direct copy
            valData2 = new Uint8Array(val2.buffer || val2, val2.byteOffset, valLenBytes2);
            const out2 = new Uint8Array(memory0.buffer, ptr2, valLenBytes2);
            out2.set(valData2);
          }
          
          var val3 = v1_3;
          let enum3;
          switch (val3) {
            case 'put': {
              enum3 = 0;
              break;
            }
            case 'delete': {
              enum3 = 1;
              break;
            }
            case 'purge': {
              enum3 = 2;
              break;
            }
            case 'expire': {
              enum3 = 3;
              break;
            }
            default: {
              if ((v1_3) instanceof Error) {
                console.error(v1_3);
              }
              
              throw new TypeError(`"${val3}" is not one of the cases of operation`);
            }
          }
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="sweep"][Instruction::CallWasm] enter', {
            funcName: 'sweep',
            paramCount: 7,
            async: false,
            postReturn: true,
          });
          
          let ret;
          
          try {
            ret =  _withGlobalCurrentTaskMeta({
              taskID: task.id(),
              componentIdx: task.componentIdx(),
              fn: () => subscribe030Sweep(ptr0, len0, v1_0 ? 1 : 0, ptr2, len2, toUint64(v1_2), enum3),
            });
          } catch (err) {
            
            _debugLog('[Instruction::CallWasm] error during sync call', {
              taskID: task.id(),
              err,
            });
            getOrCreateAsyncState(0).markTrapped(err);
            task.setErrored(err);
            task.reject(err);
            task.exit();
            throw err;
            
          }
          
          let variant29;
          switch (dataView(memory0).getUint8(ret + 0, true)) {
            case 0: {
              let variant4;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  variant4= {
                    tag: 'expired',
                    val: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 16, true)))
                  };
                  break;
                }
                case 1: {
                  variant4= {
                    tag: 'not-due',
                    val: dataView(memory0).getBigInt64(ret + 16, true)
                  };
                  break;
                }
                case 2: {
                  variant4= {
                    tag: 'nothing',
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for SweepOutcome');
                }
              }
              variant29= {
                tag: 'ok',
                val: variant4
              };
              break;
            }
            case 1: {
              let variant28;
              switch (dataView(memory0).getUint8(ret + 8, true)) {
                case 0: {
                  var ptr5 = dataView(memory0).getUint32(ret + 16, true);
                  var len5 = dataView(memory0).getUint32(ret + 20, true);
                  var result5 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr5, len5));
                  let enum6;
                  switch (dataView(memory0).getUint8(ret + 24, true)) {
                    case 0: {
                      enum6 = 'file';
                      break;
                    }
                    case 1: {
                      enum6 = 'directory';
                      break;
                    }
                    case 2: {
                      enum6 = 'glob';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Scope');
                    }
                  }
                  var ptr7 = dataView(memory0).getUint32(ret + 32, true);
                  var len7 = dataView(memory0).getUint32(ret + 36, true);
                  var result7 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr7, len7));
                  var ptr8 = dataView(memory0).getUint32(ret + 56, true);
                  var len8 = dataView(memory0).getUint32(ret + 60, true);
                  var result8 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr8, len8));
                  let enum9;
                  switch (dataView(memory0).getUint8(ret + 72, true)) {
                    case 0: {
                      enum9 = 'exclusive';
                      break;
                    }
                    case 1: {
                      enum9 = 'shared';
                      break;
                    }
                    default: {
                      throw new TypeError('invalid discriminant specified for Mode');
                    }
                  }
                  variant28= {
                    tag: 'held-by-another',
                    val: {
                      file: result5,
                      scope: enum6,
                      hold: {
                        agentId: result7,
                        claimedAt: dataView(memory0).getBigInt64(ret + 40, true),
                        expiresAt: dataView(memory0).getBigInt64(ret + 48, true),
                        checkoutPath: result8,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 64, true))),
                        mode: enum9,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 80, true))),
                    }
                  };
                  break;
                }
                case 1: {
                  var len15 = dataView(memory0).getUint32(ret + 20, true);
                  var base15 = dataView(memory0).getUint32(ret + 16, true);
                  if (base15 % 8 !== 0) throw new TypeError(`list pointer [${base15}] is not aligned to 8`);
                  var result15 = [];
                  for (let i = 0; i < len15; i++) {
                    const base = base15 + i * 72;
                    var ptr10 = dataView(memory0).getUint32(base + 0, true);
                    var len10 = dataView(memory0).getUint32(base + 4, true);
                    var result10 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr10, len10));
                    let enum11;
                    switch (dataView(memory0).getUint8(base + 8, true)) {
                      case 0: {
                        enum11 = 'file';
                        break;
                      }
                      case 1: {
                        enum11 = 'directory';
                        break;
                      }
                      case 2: {
                        enum11 = 'glob';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Scope');
                      }
                    }
                    var ptr12 = dataView(memory0).getUint32(base + 16, true);
                    var len12 = dataView(memory0).getUint32(base + 20, true);
                    var result12 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr12, len12));
                    var ptr13 = dataView(memory0).getUint32(base + 40, true);
                    var len13 = dataView(memory0).getUint32(base + 44, true);
                    var result13 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr13, len13));
                    let enum14;
                    switch (dataView(memory0).getUint8(base + 56, true)) {
                      case 0: {
                        enum14 = 'exclusive';
                        break;
                      }
                      case 1: {
                        enum14 = 'shared';
                        break;
                      }
                      default: {
                        throw new TypeError('invalid discriminant specified for Mode');
                      }
                    }
                    result15.push({
                      file: result10,
                      scope: enum11,
                      hold: {
                        agentId: result12,
                        claimedAt: dataView(memory0).getBigInt64(base + 24, true),
                        expiresAt: dataView(memory0).getBigInt64(base + 32, true),
                        checkoutPath: result13,
                        ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 48, true))),
                        mode: enum14,
                      },
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(base + 64, true))),
                    });
                  }
                  variant28= {
                    tag: 'held-by-others',
                    val: result15
                  };
                  break;
                }
                case 2: {
                  var ptr16 = dataView(memory0).getUint32(ret + 16, true);
                  var len16 = dataView(memory0).getUint32(ret + 20, true);
                  var result16 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr16, len16));
                  let variant22;
                  switch (dataView(memory0).getUint8(ret + 32, true)) {
                    case 0: {
                      variant22 = undefined;
                      break;
                    }
                    case 1: {
                      var ptr17 = dataView(memory0).getUint32(ret + 40, true);
                      var len17 = dataView(memory0).getUint32(ret + 44, true);
                      var result17 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr17, len17));
                      let enum18;
                      switch (dataView(memory0).getUint8(ret + 48, true)) {
                        case 0: {
                          enum18 = 'file';
                          break;
                        }
                        case 1: {
                          enum18 = 'directory';
                          break;
                        }
                        case 2: {
                          enum18 = 'glob';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Scope');
                        }
                      }
                      var ptr19 = dataView(memory0).getUint32(ret + 56, true);
                      var len19 = dataView(memory0).getUint32(ret + 60, true);
                      var result19 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr19, len19));
                      var ptr20 = dataView(memory0).getUint32(ret + 80, true);
                      var len20 = dataView(memory0).getUint32(ret + 84, true);
                      var result20 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr20, len20));
                      let enum21;
                      switch (dataView(memory0).getUint8(ret + 96, true)) {
                        case 0: {
                          enum21 = 'exclusive';
                          break;
                        }
                        case 1: {
                          enum21 = 'shared';
                          break;
                        }
                        default: {
                          throw new TypeError('invalid discriminant specified for Mode');
                        }
                      }
                      variant22 = {
                        file: result17,
                        scope: enum18,
                        hold: {
                          agentId: result19,
                          claimedAt: dataView(memory0).getBigInt64(ret + 64, true),
                          expiresAt: dataView(memory0).getBigInt64(ret + 72, true),
                          checkoutPath: result20,
                          ttl: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 88, true))),
                          mode: enum21,
                        },
                        revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 104, true))),
                      };
                      break;
                    }
                    default: {
                      throw new TypeError('invalid variant discriminant for option');
                    }
                  }
                  variant28= {
                    tag: 'lost',
                    val: {
                      file: result16,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      holder: variant22,
                    }
                  };
                  break;
                }
                case 3: {
                  var ptr23 = dataView(memory0).getUint32(ret + 16, true);
                  var len23 = dataView(memory0).getUint32(ret + 20, true);
                  var result23 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr23, len23));
                  var ptr24 = dataView(memory0).getUint32(ret + 24, true);
                  var len24 = dataView(memory0).getUint32(ret + 28, true);
                  var result24 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr24, len24));
                  variant28= {
                    tag: 'invalid-input',
                    val: {
                      field: result23,
                      reason: result24,
                    }
                  };
                  break;
                }
                case 4: {
                  variant28= {
                    tag: 'cas-exhausted',
                    val: dataView(memory0).getInt32(ret + 16, true) >>> 0
                  };
                  break;
                }
                case 5: {
                  var ptr25 = dataView(memory0).getUint32(ret + 16, true);
                  var len25 = dataView(memory0).getUint32(ret + 20, true);
                  var result25 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr25, len25));
                  var ptr26 = dataView(memory0).getUint32(ret + 32, true);
                  var len26 = dataView(memory0).getUint32(ret + 36, true);
                  var result26 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr26, len26));
                  variant28= {
                    tag: 'corrupt-entry',
                    val: {
                      key: result25,
                      revision: BigInt.asUintN(64, BigInt(dataView(memory0).getBigInt64(ret + 24, true))),
                      reason: result26,
                    }
                  };
                  break;
                }
                case 6: {
                  var ptr27 = dataView(memory0).getUint32(ret + 16, true);
                  var len27 = dataView(memory0).getUint32(ret + 20, true);
                  var result27 = TEXT_DECODER_UTF8.decode(new Uint8Array(memory0.buffer, ptr27, len27));
                  variant28= {
                    tag: 'store',
                    val: result27
                  };
                  break;
                }
                default: {
                  throw new TypeError('invalid variant discriminant for Error');
                }
              }
              variant29= {
                tag: 'err',
                val: variant28
              };
              break;
            }
            default: {
              throw new TypeError('invalid variant discriminant for expected');
            }
          }
          _debugLog('[iface="holds:core/subscribe@0.3.0", function="sweep"][Instruction::Return]', {
            funcName: 'sweep',
            paramCount: 1,
            async: false,
            postReturn: true
          });
          const retCopy = variant29;
          task.resolve([retCopy.val]);
          
          let cstate = getOrCreateAsyncState(0);
          cstate.mayLeave = false;
          postReturn14(ret);
          cstate.mayLeave = true;
          task.exit();
          
          
          
          if (typeof retCopy === 'object' && retCopy.tag === 'err') {
            throw new ComponentError(retCopy.val);
          }
          return retCopy.val;
          
          
        } catch (err) {
          if (!task.isResolvedState()) {
            task.setErrored(err);
            task.reject(err);
          }
          if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }
          throw err;
        }
      },
    });
    
  }
  let trampoline0 = _trampoline0.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 0,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline0.manuallyAsync,
    paramLiftFns: [],
    resultLowerFns: [_lowerFlatS64],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: null,
    stringEncoding: 'utf8',
    getMemoryFn: () => null,
    getReallocFn: undefined,
    importFn: _trampoline0,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 0,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline0.manuallyAsync,
    paramLiftFns: [],
    resultLowerFns: [_lowerFlatS64],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: null,
    stringEncoding: 'utf8',
    getMemoryFn: () => null,
    getReallocFn: undefined,
    importFn: _trampoline0,
  },
  );
  let trampoline1 = _trampoline1.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 1,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline1.manuallyAsync,
    paramLiftFns: [_liftFlatU64],
    resultLowerFns: [_lowerFlatBool],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: null,
    stringEncoding: 'utf8',
    getMemoryFn: () => null,
    getReallocFn: undefined,
    importFn: _trampoline1,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 1,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline1.manuallyAsync,
    paramLiftFns: [_liftFlatU64],
    resultLowerFns: [_lowerFlatBool],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: null,
    stringEncoding: 'utf8',
    getMemoryFn: () => null,
    getReallocFn: undefined,
    importFn: _trampoline1,
  },
  );
  let trampoline2 = _trampoline2.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 2,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline2.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [
    _lowerFlatOption({
      caseMetas: [
      [ 'none', null, 0, 0, 0 ],
      [ 'some', _lowerFlatStringAny, 8, 4, 2],
      ],
      variantSize32: 12,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 3,
      payloadMaybeNull: false,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline2,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 2,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline2.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [
    _lowerFlatOption({
      caseMetas: [
      [ 'none', null, 0, 0, 0 ],
      [ 'some', _lowerFlatStringAny, 8, 4, 2],
      ],
      variantSize32: 12,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 3,
      payloadMaybeNull: false,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline2,
  },
  );
  let trampoline3 = _trampoline3.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 3,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline3.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [_lowerFlatVariant({
      caseMetas: [[ 'missing', null, 0, 0, 0 ],[ 'directory', null, 0, 0, 0 ],[ 'file', null, 0, 0, 0 ],[ 'symlink', _lowerFlatStringAny, 8, 4, 2 ],[ 'other', null, 0, 0, 0 ],],
      variantSize32: 12,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 3,
    } )],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline3,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 3,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline3.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [_lowerFlatVariant({
      caseMetas: [[ 'missing', null, 0, 0, 0 ],[ 'directory', null, 0, 0, 0 ],[ 'file', null, 0, 0, 0 ],[ 'symlink', _lowerFlatStringAny, 8, 4, 2 ],[ 'other', null, 0, 0, 0 ],],
      variantSize32: 12,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 3,
    } )],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline3,
  },
  );
  let trampoline4 = _trampoline4.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 4,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline4.manuallyAsync,
    paramLiftFns: [_liftFlatList({
      elemLiftFn: _liftFlatRecord({ fieldMetas: [['key', _liftFlatStringAny, 8, 4],['value', _liftFlatList({
        elemLiftFn: _liftFlatU8,
        elemAlign32: 1,
        elemSize32: 1,
        typedArray: Uint8Array,
      }), 8, 4],['expected', _liftFlatU64, 8, 8],['ttlSeconds', _liftFlatU32, 4, 4],], size32: 32, align32: 8 }),
      elemAlign32: 8,
      elemSize32: 32,
      typedArray: undefined,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatU64,
        elemSize32: 8,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline4,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 4,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline4.manuallyAsync,
    paramLiftFns: [_liftFlatList({
      elemLiftFn: _liftFlatRecord({ fieldMetas: [['key', _liftFlatStringAny, 8, 4],['value', _liftFlatList({
        elemLiftFn: _liftFlatU8,
        elemAlign32: 1,
        elemSize32: 1,
        typedArray: Uint8Array,
      }), 8, 4],['expected', _liftFlatU64, 8, 8],['ttlSeconds', _liftFlatU32, 4, 4],], size32: 32, align32: 8 }),
      elemAlign32: 8,
      elemSize32: 32,
      typedArray: undefined,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatU64,
        elemSize32: 8,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline4,
  },
  );
  let trampoline5 = _trampoline5.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 5,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline5.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatList({
      elemLiftFn: _liftFlatU8,
      elemAlign32: 1,
      elemSize32: 1,
      typedArray: Uint8Array,
    }),_liftFlatU64,_liftFlatU32],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatU64, 24, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 24, 8, 8 ],
      ],
      variantSize32: 24,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline5,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 5,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline5.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatList({
      elemLiftFn: _liftFlatU8,
      elemAlign32: 1,
      elemSize32: 1,
      typedArray: Uint8Array,
    }),_liftFlatU64,_liftFlatU32],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatU64, 24, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 24, 8, 8 ],
      ],
      variantSize32: 24,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline5,
  },
  );
  let trampoline6 = _trampoline6.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 6,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline6.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU64,
    _liftFlatEnum({
      caseMetas: [['released', null, 1, 1, 1],['expired', null, 1, 1, 1],],
      variantSize32: 1,
      variantAlign32: 1,
      variantPayloadOffset32: 1,
      variantFlatCount: 1,
    })
    ,_liftFlatList({
      elemLiftFn: _liftFlatU8,
      elemAlign32: 1,
      elemSize32: 1,
      typedArray: Uint8Array,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatU64, 24, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 24, 8, 8 ],
      ],
      variantSize32: 24,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline6,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 6,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline6.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU64,
    _liftFlatEnum({
      caseMetas: [['released', null, 1, 1, 1],['expired', null, 1, 1, 1],],
      variantSize32: 1,
      variantAlign32: 1,
      variantPayloadOffset32: 1,
      variantFlatCount: 1,
    })
    ,_liftFlatList({
      elemLiftFn: _liftFlatU8,
      elemAlign32: 1,
      elemSize32: 1,
      typedArray: Uint8Array,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatU64, 24, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 24, 8, 8 ],
      ],
      variantSize32: 24,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline6,
  },
  );
  let trampoline7 = _trampoline7.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 7,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline7.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
        elemLowerFn: _lowerFlatU8,
        elemSize32: 1,
        elemAlign32: 1,
      }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
      _lowerFlatEnum({
        caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
        variantSize32: 1,
        variantAlign32: 1,
        variantPayloadOffset32: 1,
        variantFlatCount: 1,
      })
      , 1, 1 ],], size32: 32, align32: 8 }), 40, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 40, 8, 8 ],
      ],
      variantSize32: 40,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 6,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline7,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 7,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline7.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
        elemLowerFn: _lowerFlatU8,
        elemSize32: 1,
        elemAlign32: 1,
      }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
      _lowerFlatEnum({
        caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
        variantSize32: 1,
        variantAlign32: 1,
        variantPayloadOffset32: 1,
        variantFlatCount: 1,
      })
      , 1, 1 ],], size32: 32, align32: 8 }), 40, 8, 8 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 40, 8, 8 ],
      ],
      variantSize32: 40,
      variantAlign32: 8,
      variantPayloadOffset32: 8,
      variantFlatCount: 6,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline7,
  },
  );
  let trampoline8 = _trampoline8.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 8,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline8.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU64],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatRecord({ fieldMetas: [['key', _lowerFlatStringAny, 8, 4 ],['entry', _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
          elemLowerFn: _lowerFlatU8,
          elemSize32: 1,
          elemAlign32: 1,
        }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
        _lowerFlatEnum({
          caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],], size32: 32, align32: 8 }), 32, 8 ],], size32: 40, align32: 8 }),
        elemSize32: 40,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline8,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 8,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline8.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU64],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatRecord({ fieldMetas: [['key', _lowerFlatStringAny, 8, 4 ],['entry', _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
          elemLowerFn: _lowerFlatU8,
          elemSize32: 1,
          elemAlign32: 1,
        }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
        _lowerFlatEnum({
          caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],], size32: 32, align32: 8 }), 32, 8 ],], size32: 40, align32: 8 }),
        elemSize32: 40,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline8,
  },
  );
  let trampoline9 = _trampoline9.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 9,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline9.manuallyAsync,
    paramLiftFns: [_liftFlatList({
      elemLiftFn: _liftFlatStringAny,
      elemAlign32: 4,
      elemSize32: 8,
      typedArray: undefined,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
          elemLowerFn: _lowerFlatU8,
          elemSize32: 1,
          elemAlign32: 1,
        }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
        _lowerFlatEnum({
          caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],], size32: 32, align32: 8 }),
        elemSize32: 32,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline9,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 9,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline9.manuallyAsync,
    paramLiftFns: [_liftFlatList({
      elemLiftFn: _liftFlatStringAny,
      elemAlign32: 4,
      elemSize32: 8,
      typedArray: undefined,
    })],
    resultLowerFns: [
    _lowerFlatResult({
      caseMetas: [
      [ 'ok', _lowerFlatList({
        elemLowerFn: _lowerFlatRecord({ fieldMetas: [['found', _lowerFlatBool, 1, 1 ],['value', _lowerFlatList({
          elemLowerFn: _lowerFlatU8,
          elemSize32: 1,
          elemAlign32: 1,
        }), 8, 4 ],['revision', _lowerFlatU64, 8, 8 ],['operation', 
        _lowerFlatEnum({
          caseMetas: [['put', null, 1, 1, 1],['delete', null, 1, 1, 1],['purge', null, 1, 1, 1],['expire', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],], size32: 32, align32: 8 }),
        elemSize32: 32,
        elemAlign32: 8,
      }), 20, 4, 4 ],
      [ 'err', _lowerFlatVariant({
        caseMetas: [[ 'wrong-revision', null, 0, 0, 0 ],[ 'not-stored', _lowerFlatRecord({ fieldMetas: [['why', 
        _lowerFlatEnum({
          caseMetas: [['busy', null, 1, 1, 1],['leader-changing', null, 1, 1, 1],['no-stream', null, 1, 1, 1],],
          variantSize32: 1,
          variantAlign32: 1,
          variantPayloadOffset32: 1,
          variantFlatCount: 1,
        })
        , 1, 1 ],['detail', _lowerFlatStringAny, 8, 4 ],], size32: 12, align32: 4 }), 12, 4, 3 ],[ 'unavailable', _lowerFlatStringAny, 8, 4, 2 ],[ 'unsupported', null, 0, 0, 0 ],],
        variantSize32: 16,
        variantAlign32: 4,
        variantPayloadOffset32: 4,
        variantFlatCount: 4,
      } ), 20, 4, 4 ],
      ],
      variantSize32: 20,
      variantAlign32: 4,
      variantPayloadOffset32: 4,
      variantFlatCount: 5,
    })
    ],
    hasResultPointer: true,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: () => realloc0,
    importFn: _trampoline9,
  },
  );
  let trampoline10 = _trampoline10.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 10,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline10.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU32],
    resultLowerFns: [],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: undefined,
    importFn: _trampoline10,
  },
  ))) : _lowerImportBackwardsCompat.bind(
  null,
  {
    trampolineIdx: 10,
    componentIdx: 0,
    isAsync: false,
    isManualAsync: _trampoline10.manuallyAsync,
    paramLiftFns: [_liftFlatStringAny,_liftFlatU32],
    resultLowerFns: [],
    hasResultPointer: false,
    funcTypeIsAsync: false,
    getCallbackFn: () => null,
    getPostReturnFn: () => null,
    isCancellable: false,
    memoryIdx: 0,
    stringEncoding: 'utf8',
    getMemoryFn: () => memory0,
    getReallocFn: undefined,
    importFn: _trampoline10,
  },
  );
  Promise.all([module0, module1, module2]).catch(() => {});
  ({ exports: exports0 } = yield instantiateCore(yield module1));
  ({ exports: exports1 } = yield instantiateCore(yield module0, {
    'holds:core/clock@0.3.0': {
      now: Object.assign(trampoline0, { _jcoMaySuspend: false }),
      pause: Object.assign(trampoline1, { _jcoMaySuspend: false }),
    },
    'holds:core/fs@0.3.0': {
      inspect: Object.assign(exports0['1'], { _jcoMaySuspend: false }),
      'read-link-file': Object.assign(exports0['0'], { _jcoMaySuspend: false }),
    },
    'holds:core/kv@0.3.0': {
      'delete-if-revision': Object.assign(exports0['4'], { _jcoMaySuspend: false }),
      get: Object.assign(exports0['5'], { _jcoMaySuspend: false }),
      'get-many': Object.assign(exports0['7'], { _jcoMaySuspend: false }),
      scan: Object.assign(exports0['6'], { _jcoMaySuspend: false }),
      'write-batch': Object.assign(exports0['2'], { _jcoMaySuspend: false }),
      'write-if-revision': Object.assign(exports0['3'], { _jcoMaySuspend: false }),
    },
    'holds:core/observer@0.3.0': {
      'cas-retry': Object.assign(exports0['8'], { _jcoMaySuspend: false }),
    },
  }));
  memory0 = exports1.memory;
  realloc0 = exports1.cabi_realloc;
  
  try {
    realloc0Async = WebAssembly.promising(exports1.cabi_realloc);
  } catch(err) {
    realloc0Async = exports1.cabi_realloc;
  }
  
  ({ exports: exports2 } = yield instantiateCore(yield module2, {
    '': {
      $imports: exports0.$imports,
      '0': Object.assign(trampoline2, { _jcoMaySuspend: false }),
      '1': Object.assign(trampoline3, { _jcoMaySuspend: false }),
      '2': Object.assign(trampoline4, { _jcoMaySuspend: false }),
      '3': Object.assign(trampoline5, { _jcoMaySuspend: false }),
      '4': Object.assign(trampoline6, { _jcoMaySuspend: false }),
      '5': Object.assign(trampoline7, { _jcoMaySuspend: false }),
      '6': Object.assign(trampoline8, { _jcoMaySuspend: false }),
      '7': Object.assign(trampoline9, { _jcoMaySuspend: false }),
      '8': Object.assign(trampoline10, { _jcoMaySuspend: false }),
    },
  }));
  postReturn0 = exports1['cabi_post_holds:core/holds@0.3.0#announce'];
  
  try {
    postReturn0Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#announce']);
  } catch(err) {
    postReturn0Async = exports1['cabi_post_holds:core/holds@0.3.0#announce'];
  }
  
  postReturn1 = exports1['cabi_post_holds:core/holds@0.3.0#release'];
  
  try {
    postReturn1Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#release']);
  } catch(err) {
    postReturn1Async = exports1['cabi_post_holds:core/holds@0.3.0#release'];
  }
  
  postReturn2 = exports1['cabi_post_holds:core/holds@0.3.0#who-has'];
  
  try {
    postReturn2Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#who-has']);
  } catch(err) {
    postReturn2Async = exports1['cabi_post_holds:core/holds@0.3.0#who-has'];
  }
  
  postReturn3 = exports1['cabi_post_holds:core/holds@0.3.0#covering'];
  
  try {
    postReturn3Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#covering']);
  } catch(err) {
    postReturn3Async = exports1['cabi_post_holds:core/holds@0.3.0#covering'];
  }
  
  postReturn4 = exports1['cabi_post_holds:core/holds@0.3.0#claim-files'];
  
  try {
    postReturn4Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#claim-files']);
  } catch(err) {
    postReturn4Async = exports1['cabi_post_holds:core/holds@0.3.0#claim-files'];
  }
  
  postReturn5 = exports1['cabi_post_holds:core/holds@0.3.0#renew'];
  
  try {
    postReturn5Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#renew']);
  } catch(err) {
    postReturn5Async = exports1['cabi_post_holds:core/holds@0.3.0#renew'];
  }
  
  postReturn6 = exports1['cabi_post_holds:core/holds@0.3.0#check'];
  
  try {
    postReturn6Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#check']);
  } catch(err) {
    postReturn6Async = exports1['cabi_post_holds:core/holds@0.3.0#check'];
  }
  
  postReturn7 = exports1['cabi_post_holds:core/holds@0.3.0#force-release'];
  
  try {
    postReturn7Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#force-release']);
  } catch(err) {
    postReturn7Async = exports1['cabi_post_holds:core/holds@0.3.0#force-release'];
  }
  
  postReturn8 = exports1['cabi_post_holds:core/holds@0.3.0#key-for-file'];
  
  try {
    postReturn8Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#key-for-file']);
  } catch(err) {
    postReturn8Async = exports1['cabi_post_holds:core/holds@0.3.0#key-for-file'];
  }
  
  postReturn9 = exports1['cabi_post_holds:core/holds@0.3.0#file-for-key'];
  
  try {
    postReturn9Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#file-for-key']);
  } catch(err) {
    postReturn9Async = exports1['cabi_post_holds:core/holds@0.3.0#file-for-key'];
  }
  
  postReturn10 = exports1['cabi_post_holds:core/holds@0.3.0#check-bucket'];
  
  try {
    postReturn10Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#check-bucket']);
  } catch(err) {
    postReturn10Async = exports1['cabi_post_holds:core/holds@0.3.0#check-bucket'];
  }
  
  postReturn11 = exports1['cabi_post_holds:core/holds@0.3.0#identify'];
  
  try {
    postReturn11Async = WebAssembly.promising(exports1['cabi_post_holds:core/holds@0.3.0#identify']);
  } catch(err) {
    postReturn11Async = exports1['cabi_post_holds:core/holds@0.3.0#identify'];
  }
  
  postReturn12 = exports1['cabi_post_holds:core/subscribe@0.3.0#marker-headers'];
  
  try {
    postReturn12Async = WebAssembly.promising(exports1['cabi_post_holds:core/subscribe@0.3.0#marker-headers']);
  } catch(err) {
    postReturn12Async = exports1['cabi_post_holds:core/subscribe@0.3.0#marker-headers'];
  }
  
  postReturn13 = exports1['cabi_post_holds:core/subscribe@0.3.0#interpret'];
  
  try {
    postReturn13Async = WebAssembly.promising(exports1['cabi_post_holds:core/subscribe@0.3.0#interpret']);
  } catch(err) {
    postReturn13Async = exports1['cabi_post_holds:core/subscribe@0.3.0#interpret'];
  }
  
  postReturn14 = exports1['cabi_post_holds:core/subscribe@0.3.0#sweep'];
  
  try {
    postReturn14Async = WebAssembly.promising(exports1['cabi_post_holds:core/subscribe@0.3.0#sweep']);
  } catch(err) {
    postReturn14Async = exports1['cabi_post_holds:core/subscribe@0.3.0#sweep'];
  }
  
  holds030Announce = exports1['holds:core/holds@0.3.0#announce'];
  holds030Release = exports1['holds:core/holds@0.3.0#release'];
  holds030WhoHas = exports1['holds:core/holds@0.3.0#who-has'];
  holds030Covering = exports1['holds:core/holds@0.3.0#covering'];
  holds030ClaimFiles = exports1['holds:core/holds@0.3.0#claim-files'];
  holds030Renew = exports1['holds:core/holds@0.3.0#renew'];
  holds030Check = exports1['holds:core/holds@0.3.0#check'];
  holds030ForceRelease = exports1['holds:core/holds@0.3.0#force-release'];
  holds030KeyForFile = exports1['holds:core/holds@0.3.0#key-for-file'];
  holds030FileForKey = exports1['holds:core/holds@0.3.0#file-for-key'];
  holds030CheckBucket = exports1['holds:core/holds@0.3.0#check-bucket'];
  holds030Identify = exports1['holds:core/holds@0.3.0#identify'];
  subscribe030MarkerHeaders = exports1['holds:core/subscribe@0.3.0#marker-headers'];
  subscribe030Upkeep = exports1['holds:core/subscribe@0.3.0#upkeep'];
  subscribe030Interpret = exports1['holds:core/subscribe@0.3.0#interpret'];
  subscribe030Sweep = exports1['holds:core/subscribe@0.3.0#sweep'];
  const holds030 = {
    announce: announce,
    check: check,
    checkBucket: checkBucket,
    claimFiles: claimFiles,
    covering: covering,
    fileForKey: fileForKey,
    forceRelease: forceRelease,
    identify: identify,
    keyForFile: keyForFile,
    release: release,
    renew: renew,
    whoHas: whoHas,
    
  };
  const subscribe030 = {
    interpret: interpret,
    markerHeaders: markerHeaders,
    sweep: sweep,
    upkeep: upkeep,
    
  };
  
  return { holds: holds030, subscribe: subscribe030, 'holds:core/holds@0.3.0': holds030, 'holds:core/subscribe@0.3.0': subscribe030,  };
})();
let promise, resolve, reject;
function normalizeInstantiationError(e) {
  // Native JSPI rejects a suspending import called from a
  // core start function before entering its JS wrapper.
  // At component instantiation time that always means the
  // implicit synchronous task attempted to block.
  if (typeof WebAssembly.SuspendError === 'function' && e instanceof WebAssembly.SuspendError) {
    return new WebAssembly.RuntimeError('cannot block a synchronous task before returning');
  }
  return e;
}
function runNext(value) {
  try {
    let done;
    do {
      ({ value, done } = gen.next(value));
    } while (!(value instanceof Promise) && !done);
    if (done) {
      if (resolve) return resolve(value);
      else return value;
    }
    if (!promise) promise = new Promise((_resolve, _reject) => (resolve = _resolve, reject= _reject));
    value.then(nextVal => done ? resolve() : runNext(nextVal), e => reject(normalizeInstantiationError(e)));
  }
  catch (e) {
    e = normalizeInstantiationError(e);
    if (reject) reject(e);
    else throw e;
  }
}
const maybeSyncReturn = runNext(null);
return promise || maybeSyncReturn;
};

export const _util = {
  
}

