// The API's interactive documentation (/docs): Swagger UI, served by the api from the
// flask-swagger-ui package (no CDN), reading the document the API checks bodies against.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});
