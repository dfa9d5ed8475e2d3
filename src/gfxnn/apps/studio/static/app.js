// gfxnn studio: the page's entry module. One WebSocket carries the server's state and
// prediction frames in and the controls out (protocol in docs/studio.md); the modules in
// studio/ each do one part of the page. No framework, no build step.
import { connect } from "./studio/connection.js";
import { wirePanel } from "./studio/panel.js";
import "./studio/form.js";
import "./studio/charts.js";
import "./studio/displays.js";
import "./studio/api.js";
// Training in this browser (static/browser/) plugs in here with one import.
import "./browser/panel.js";

wirePanel();
connect();
