{{- define "lib.extra" -}}
lib: "yes"
{{- end -}}
