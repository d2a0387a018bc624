{{/* Names and labels shared by every object of a release. */}}

{{- define "spider.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "spider.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (agent, query). */}}
{{- define "spider.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "spider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spider.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "spider.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "spider.claimName" -}}
{{- default (printf "%s-data" (include "spider.fullname" .)) .Values.storage.persistentVolumeClaim.existingClaim -}}
{{- end -}}

{{/* The Secret of the API's tokens; empty when the API is left open. */}}
{{- define "spider.tokensSecret" -}}
{{- if .Values.query.tokens.existingSecret -}}
{{- .Values.query.tokens.existingSecret -}}
{{- else if .Values.query.tokens.create -}}
{{- printf "%s-tokens" (include "spider.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Each node's staging directory for uploads to the object store: one per release. */}}
{{- define "spider.stagingPath" -}}
{{- default (printf "/var/lib/spider/%s/staging" .Release.Name) .Values.storage.objectStore.stagingHostPath -}}
{{- end -}}

{{/* The lake arguments of `spider serve` and `spider retain`: the shared volume or the bucket. */}}
{{- define "spider.lakeArgs" -}}
- --data
{{- if eq .Values.storage.mode "objectStore" }}
{{- with .Values.storage.objectStore }}
- {{ .url | quote }}
{{- range $key, $value := .options }}
- --storage-option
- {{ printf "%s=%s" $key $value | quote }}
{{- end }}
{{- end }}
{{- else }}
- /var/lib/spider/data
{{- end }}
{{- end -}}
